"""PROVIDED: `python -m lab bench peers` - the same email in RQ's peers, side by side.

    cli          the command line: flags, --help, main(); runs the children below
    runner       one library's throughput (a child process): enqueue, no-op, sleep-bound
    crash        one crash case (a child process): a worker killed mid-job; re-run?
    session      what a child has: a private Redis, the library's adapter, its workers
    report       the rows, their JSON fields, the tables
    common       the email's one Redis write, the apps' settings, Peer/Config/CrashCase
    <lib>_app    the email in each library, as its worker imports it
    <lib>_peer   how the bench drives it: worker commands, enqueue calls, crash cases

Only the children import the libraries, so `python -m lab --help` and this package work
without them (they are an optional install: `make peers`).
"""

#: The libraries measured, RQ first (the reference).
LIBRARIES = ("rq", "celery", "dramatiq", "arq", "taskiq", "huey", "saq")
