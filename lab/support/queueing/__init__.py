"""PROVIDED: Reading and repairing RQ's state: jobs, the serializer, GET /stats' numbers,
recovery of lost jobs, the fake mail provider.
"""
