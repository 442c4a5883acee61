"""Settings come from environment variables, read when first used and kept until
get_settings.cache_clear(); importing a module reads none."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lab.support.config import PROJECT_ROOT, environment, get_settings, safe_url
from lab.support.servers.processes import child_env


def test_defaults(monkeypatch):
    for name in ("REDIS_URL", "REDIS_TIMEOUT", "EMAIL_DELAY", "QUEUE_NAME", "REDIS_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name in ("RESULT_TTL", "IDEMPOTENCY_TTL"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    settings = get_settings()
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.redis_timeout == 1.0
    assert settings.email_delay == 10.0
    assert settings.queue_name == "default"
    assert settings.redis_data_dir == PROJECT_ROOT / ".redis"
    assert (settings.result_ttl, settings.idempotency_ttl) == (500, 86400)


def test_environment_overrides(monkeypatch, tmp_path):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6380/3")
    monkeypatch.setenv("REDIS_TIMEOUT", "0.5")
    monkeypatch.setenv("EMAIL_DELAY", "2")
    monkeypatch.setenv("QUEUE_NAME", "emails")
    monkeypatch.setenv("REDIS_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    settings = get_settings()
    assert settings.redis_url == "redis://127.0.0.1:6380/3"
    assert (settings.redis_timeout, settings.email_delay) == (0.5, 2.0)
    assert settings.queue_name == "emails"
    assert settings.redis_data_dir == tmp_path
    monkeypatch.setenv("RESULT_TTL", "60")
    monkeypatch.setenv("IDEMPOTENCY_TTL", "3600")
    get_settings.cache_clear()
    assert (get_settings().result_ttl, get_settings().idempotency_ttl) == (60, 3600)


def test_a_bad_number_names_the_variable(monkeypatch):
    monkeypatch.setenv("EMAIL_DELAY", "ten")
    get_settings.cache_clear()
    with pytest.raises(ValueError, match="EMAIL_DELAY='ten'"):
        get_settings()


@pytest.mark.parametrize("raw", ["0", "-5", "1.5", "soon"])
def test_a_ttl_must_be_a_whole_number_of_seconds(monkeypatch, raw):
    monkeypatch.setenv("RESULT_TTL", raw)
    get_settings.cache_clear()
    with pytest.raises(ValueError, match=f"RESULT_TTL='{raw}' is not a whole number"):
        get_settings()


def test_safe_url_hides_the_password():
    assert safe_url("redis://:s3cret@host:6379/0") == "redis://:***@host:6379/0"
    assert safe_url("redis://user:s3cret@host/0") == "redis://user:***@host/0"
    assert safe_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_the_hardening_settings_and_their_defaults(monkeypatch):
    for name in ("JOB_TIMEOUT", "MAX_BODY_BYTES", "JOB_QUEUES"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    settings = get_settings()
    assert (settings.job_timeout, settings.max_body_bytes, settings.job_queues) == (180, 65536, ())
    assert settings.max_work_seconds == 162  # 90% of the job timeout
    monkeypatch.setenv("JOB_TIMEOUT", "20")
    monkeypatch.setenv("MAX_BODY_BYTES", "1024")
    monkeypatch.setenv("JOB_QUEUES", "high, low,,")
    get_settings.cache_clear()
    settings = get_settings()
    assert (settings.job_timeout, settings.max_body_bytes) == (20, 1024)
    assert settings.job_queues == ("high", "low")
    assert settings.max_work_seconds == 18


def test_the_default_email_delay_must_fit_in_a_job(monkeypatch):
    monkeypatch.setenv("EMAIL_DELAY", "200")
    get_settings.cache_clear()
    with pytest.raises(ValueError, match=r"EMAIL_DELAY=200 does not fit.*JOB_TIMEOUT=180"):
        get_settings()
    monkeypatch.setenv("JOB_TIMEOUT", "300")
    get_settings.cache_clear()
    assert get_settings().email_delay == 200


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://127.0.0.1:6379/0?password=s3cret", "redis://127.0.0.1:6379/0?password=***"),
        ("redis://h/0?db=1&Password=s3cret&x=1", "redis://h/0?db=1&Password=***&x=1"),
        ("redis://u:s3cret@h/0?password=s3cret", "redis://u:***@h/0?password=***"),
        ("redis://:p%40ss@h/0", "redis://:***@h/0"),
        ("redis://:a@b@h/0", "redis://:***@h/0"),  # an @ in the password, as redis-py reads it
        ("redis://:s3cret@h:port/0", "redis://:***@h:port/0"),  # a bad port: still hidden
        ("unix:///tmp/redis.sock?password=s3cret", "unix:///tmp/redis.sock?password=***"),
        ("redis://user@h/0", "redis://user@h/0"),
    ],
)
def test_safe_url_hides_the_password_in_every_form(url, shown):
    assert safe_url(url) == shown


def test_hide_secrets_removes_the_password_from_any_text():
    from lab.support.config import hide_secrets

    url = "redis://u:p%40ss@h/0?password=other"
    text = "AUTH p@ss failed; also p%40ss and other"
    assert hide_secrets(text, url) == "AUTH *** failed; also *** and ***"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("redis://127.0.0.1:6379/0", None),
        ("redis://:pw@127.0.0.1:6379/0?colour=blue", "unknown option 'colour'"),
        ("http://127.0.0.1:6379/0", "must specify one of the following schemes"),
        ("redis://:pw@127.0.0.1:99999/0", "Port out of range"),
    ],
)
def test_redis_url_problem_names_what_is_wrong_in_one_line(url, problem):
    from lab.support.config import redis_url_problem

    found = redis_url_problem(url)
    if problem is None:
        assert found is None
    else:
        assert problem in found and "\n" not in found and "pw@" not in found


def test_the_crash_lab_settings_and_their_defaults(monkeypatch):
    names = ("REDIS_OUTAGE_LIMIT", "MAINTENANCE_INTERVAL", "JOB_HEARTBEAT", "JOB_LEASE")
    for name in (*names, "IDEMPOTENCY_CLAIM_TTL", "RQ_SERIALIZER"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    settings = get_settings()
    assert (settings.redis_outage_limit, settings.maintenance_interval) == (300, 15)
    assert (settings.job_heartbeat, settings.job_lease) == (5, 45)
    assert (settings.idempotency_claim_ttl, settings.serializer) == (30, "pickle")
    monkeypatch.setenv("RQ_SERIALIZER", " JSON ")
    monkeypatch.setenv("JOB_HEARTBEAT", "1")
    monkeypatch.setenv("JOB_LEASE", "3")
    get_settings.cache_clear()
    assert (get_settings().serializer, get_settings().job_lease) == ("json", 3)


def test_a_lease_must_outlast_the_heartbeat(monkeypatch):
    monkeypatch.setenv("JOB_HEARTBEAT", "10")
    monkeypatch.setenv("JOB_LEASE", "10")
    get_settings.cache_clear()
    with pytest.raises(ValueError, match="JOB_LEASE=10 must be more than JOB_HEARTBEAT=10"):
        get_settings()


def test_an_unknown_serializer_is_named(monkeypatch):
    monkeypatch.setenv("RQ_SERIALIZER", "marshal")
    get_settings.cache_clear()
    with pytest.raises(ValueError, match="RQ_SERIALIZER='marshal' is not one of pickle, json"):
        get_settings()


def test_the_settings_are_read_once_and_kept_until_the_cache_is_cleared(monkeypatch):
    monkeypatch.setenv("QUEUE_NAME", "first")
    get_settings.cache_clear()
    settings = get_settings()
    monkeypatch.setenv("QUEUE_NAME", "second")
    assert get_settings() is settings and settings.queue_name == "first"
    get_settings.cache_clear()
    assert get_settings().queue_name == "second"


def test_environment_sets_variables_for_a_block_and_the_settings_follow(monkeypatch):
    monkeypatch.setenv("QUEUE_NAME", "outside")
    monkeypatch.delenv("JOB_QUEUES", raising=False)
    get_settings.cache_clear()
    assert get_settings().queue_name == "outside"
    with environment(QUEUE_NAME="inside", JOB_QUEUES="a, b"):
        assert (get_settings().queue_name, get_settings().job_queues) == ("inside", ("a", "b"))
    assert os.environ["QUEUE_NAME"] == "outside" and "JOB_QUEUES" not in os.environ
    assert (get_settings().queue_name, get_settings().job_queues) == ("outside", ())


def test_a_blank_variable_means_the_default(monkeypatch):
    names = ("REDIS_URL", "EMAIL_DELAY", "QUEUE_NAME", "RESULT_TTL", "RQ_SERIALIZER", "JOB_QUEUES")
    for name in names:
        monkeypatch.setenv(name, "  ")
    get_settings.cache_clear()
    settings = get_settings()
    assert (settings.redis_url, settings.email_delay) == ("redis://127.0.0.1:6379/0", 10.0)
    assert (settings.queue_name, settings.result_ttl) == ("default", 500)
    assert (settings.serializer, settings.job_queues) == ("pickle", ())


def test_every_bad_setting_is_named_in_one_line_without_pydantic_s_report(monkeypatch):
    monkeypatch.setenv("EMAIL_DELAY", "ten")
    monkeypatch.setenv("JOB_LEASE", "soon")
    get_settings.cache_clear()
    with pytest.raises(ValueError) as refused:
        get_settings()
    message = str(refused.value)
    assert "EMAIL_DELAY='ten' is not a number" in message
    assert "JOB_LEASE='soon' is not a whole number" in message
    assert "\n" not in message and "validation error" not in message


#: Imports every module of the kit and of the solutions (the learner's files), and builds
#: their apps, then reads the settings: only that last step may see the bad ones. Not the
#: peers' apps (experiments/peers/*_app.py): each is the module another library's worker
#: command imports, configured at import as that library requires, by the bench alone.
IMPORT_ALL = """
import importlib, pkgutil
import lab.support, solutions
names = [m.name for m in pkgutil.walk_packages(lab.support.__path__, "lab.support.")]
names += [m.name for m in pkgutil.iter_modules(solutions.__path__, "solutions.")]
for name in names:
    if not name.endswith("__main__") and not (".peers." in name and name.endswith("_app")):
        importlib.import_module(name)
print("imported", len(names))
from lab.support.config import get_settings
get_settings()
"""


def test_importing_the_kit_and_the_solutions_reads_no_setting():
    """Every module imports, and the producer's apps are built, whatever the settings say:
    they are read when used (here by the last line, which names the bad ones)."""
    bad = {"JOB_TIMEOUT": "soon", "MAX_BODY_BYTES": "0", "RQ_SERIALIZER": "marshal"}
    run = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL],
        cwd=PROJECT_ROOT,
        env=child_env(bad),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.stdout.startswith("imported"), run.stderr[-2000:]
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("ValueError: JOB_TIMEOUT='soon'"), run.stderr[-2000:]
    assert "MAX_BODY_BYTES='0'" in last and "RQ_SERIALIZER='marshal'" in last
