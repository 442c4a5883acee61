"""Step 08d - YOUR FILE (lab/repositories.py): creating a repository, as a chain of jobs.

POST /repositories answers 202 at once, with a job for each step; each step waits for the
one before it (depends_on), so a worker runs them in order:

    create -> files -> webhooks        and, after files whether it worked or not, cleanup

A job whose dependency failed stays "deferred": it will not run unless that dependency is
retried and finishes. cleanup depends on files with Dependency(allow_failure=True), so it
runs in both cases. The steps here are fakes: they sleep, and one can be told to fail.

You write queue_repository(); the tasks and the endpoint are provided.
"""

from __future__ import annotations

import time

from fastapi import APIRouter
from rq import Queue
from rq.job import Dependency, Job

from lab.support.api import EmailQueue, RepositoryQueued, RepositoryRequest

router = APIRouter()


def _step(what: str, name: str, delay: float, fail: bool) -> str:
    time.sleep(delay)
    if fail:
        raise RuntimeError(f"could not {what} for {name} (told to fail)")
    return f"{what}: done for {name}"


def create_repository(name: str, delay: float = 0.0, fail: bool = False) -> str:
    """Step 1 (fake): create the repository `name`."""
    return _step("create the repository", name, delay, fail)


def add_default_files(name: str, delay: float = 0.0, fail: bool = False) -> str:
    """Step 2 (fake): commit a README, a licence and a .gitignore, from a working copy."""
    return _step("add the default files", name, delay, fail)


def set_up_webhooks(name: str, delay: float = 0.0, fail: bool = False) -> str:
    """Step 3 (fake): register the repository's webhooks."""
    return _step("set up the webhooks", name, delay, fail)


def clean_up(name: str) -> str:
    """The step that must run anyway (fake): remove the working copy of step 2."""
    return f"clean up: removed the working copy of {name}"


def queue_repository(
    queue: Queue, name: str, delay: float = 0.0, fail_step: str | None = None
) -> dict[str, Job]:
    """Queue the four steps for the repository `name` on `queue`, each step with `delay` and
    fail=(fail_step == its name): create; files after create; webhooks after files; cleanup
    after files, even if files failed. Returns {"create": job, "files": ..., "webhooks": ...,
    "cleanup": ...}."""
    # BEGIN SOLUTION: four jobs; each waits for the one it needs (cleanup: even if that failed)
    create = queue.enqueue(create_repository, name, delay, fail_step == "create")
    files = queue.enqueue(add_default_files, name, delay, fail_step == "files", depends_on=create)
    hooks = queue.enqueue(set_up_webhooks, name, delay, fail_step == "webhooks", depends_on=files)
    anyway = Dependency(jobs=[files], allow_failure=True)
    cleanup = queue.enqueue(clean_up, name, depends_on=anyway)
    return {"create": create, "files": files, "webhooks": hooks, "cleanup": cleanup}
    # END SOLUTION


@router.post("/repositories", response_model=RepositoryQueued, status_code=202)
def post_repository(body: RepositoryRequest, queue: EmailQueue) -> dict:
    """Create a repository in the background: one job per step, each waiting for the one
    before. Follow each with GET /jobs/{job_id}; a step that waits says what for."""
    jobs = queue_repository(queue, body.name, body.delay, body.fail_step)
    return {
        "message": f"Repository {body.name} is being created.",
        "jobs": {step: job.id for step, job in jobs.items()},
    }
