"""The tests' fixtures and hooks, by concern, in tests/plugins/:

- settings: the defaults, whatever the shell exported (emptied from the environment first);
- groups: tests that run one at a time (xdist groups) or after the others (`serial`);
- learner: --impl=lab|solutions, a fixture per learner module, the `exercise` mark;
- messages: a failing exercise test's one line, "expected | got | look at";
- redis: the shared test Redis and a database of each session's own, a private Redis,
  closed and silent ports;
- jobs: the queue the API fills, and running its jobs in the test;
- apps: the learner's API and the reference producer, with FastAPI's TestClient;
- processes: `python -m ...` in a checkout, and a child that finds no Redis binary.
"""

pytest_plugins = [
    "plugins.settings",
    "plugins.groups",
    "plugins.learner",
    "plugins.messages",
    "plugins.redis",
    "plugins.jobs",
    "plugins.apps",
    "plugins.processes",
]
