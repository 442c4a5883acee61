"""The learner's package - your workbook.

Yours to edit (generated from solutions/ with TODOs; the notebooks tell you when):
    connection.py  step 00: the connection to Redis and the queue
    tasks.py       step 01: the slow work (steps 05, 06: progress, failures)
    producer.py    step 02: the FastAPI app that queues work (05, 06: jobs, retries)
    worker.py      step 03: the worker that runs it
    strategies.py  step 04: four ways to send the email, measured

Provided (do not edit): __main__.py (`python -m lab ...`) and everything in support/.
"""
