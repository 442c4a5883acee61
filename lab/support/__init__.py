"""PROVIDED support code: you do not edit anything in lab/support/.

    api.py          the producer's models, provided endpoints, and create_app()
    monitor.py      what GET /stats answers (step 09), and what read_stats() uses
    metrics.py      GET /metrics: the numbers of GET /stats for Prometheus
    dashboard.py    RQ's web dashboard (rq-dashboard-fast) at /dashboard, guarded
    browser.py      a headless Chromium for notebooks and tests (Playwright)
    errors.py       the API's error answers: their JSON shape, short and always writable
    body_limit.py   413 for a request body over MAX_BODY_BYTES, without reading it
    header_limit.py 431 for request headers over MAX_HEADER_BYTES, or over 100 of them
    worker_cli.py   the command line of `python -m lab.worker`
    helpers.py      what notebooks and tests share: waiting for a job, emptying a queue, ...
    background.py   the API and workers as background processes
    redis_server.py a local Redis without Docker or root
    config.py       every setting, read from environment variables
    idempotency.py  the Idempotency-Key middleware (step 06)
    outbox.py       a fake mail provider that honours idempotency keys (step 10)
    check.py        `python -m lab check`; exercises.py lists the steps
    check_timing.py `python -m lab dev time-check`: how long the checks take
    bench/          `python -m lab bench`
    stubs.py, notebooks.py, reference.py   maintainers' tools (`python -m lab dev`)

Your files are lab/*.py.
"""
