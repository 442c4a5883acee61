"""PROVIDED support code: you do not edit anything in lab/support/. Your files are lab/*.py.

    experiments/  `python -m lab bench ...`, `python -m lab soak`, the trust-boundary demo
    course/       the steps, `python -m lab check`, notebook helpers, stubs, notebook tools
    api/          the producer's provided parts (import them from lab.support.api)
    workers/      RQ's worker classes extended by subclassing; `python -m lab.worker`'s CLI
    queueing/     reading and repairing RQ's state: jobs, serializer, stats, recovery, outbox
    servers/      a local Redis without Docker or root, a cluster, background processes
    config.py     every setting, read from environment variables when used

Each package imports only those listed below it (import-linter checks it in `make test`).
"""
