"""The learner's package - your workbook.

Yours to edit: one file per step (generated from solutions/ with TODOs; the notebooks
tell you when to edit them):
    connection.py  step 00: the connection to Redis and the queue
    tasks.py       step 01: the slow work (steps 05, 06 add tasks to it)
    producer.py    step 02: the FastAPI app that queues work
    worker.py      step 03: the worker that runs it
    strategies.py  step 04: four ways to send the email, measured
    status.py      step 05: GET /jobs/{job_id}, what became of a job
    failures.py    step 06: retry and cancel a job; the Idempotency-Key

Provided (do not edit): __main__.py (`python -m lab ...`) and everything in support/.
"""
