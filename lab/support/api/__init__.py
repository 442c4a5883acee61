"""PROVIDED: the producer's provided parts: its app, models, dependencies, error answers,
middleware, the dashboard and the metrics.
"""
