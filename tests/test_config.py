"""Settings come from environment variables, read at each call."""

from __future__ import annotations

import pytest

from lab.support.config import PROJECT_ROOT, get_settings, safe_url


def test_defaults(monkeypatch):
    for name in ("REDIS_URL", "REDIS_TIMEOUT", "EMAIL_DELAY", "QUEUE_NAME", "REDIS_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name in ("RESULT_TTL", "IDEMPOTENCY_TTL"):
        monkeypatch.delenv(name, raising=False)
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
    settings = get_settings()
    assert settings.redis_url == "redis://127.0.0.1:6380/3"
    assert (settings.redis_timeout, settings.email_delay) == (0.5, 2.0)
    assert settings.queue_name == "emails"
    assert settings.redis_data_dir == tmp_path
    monkeypatch.setenv("RESULT_TTL", "60")
    monkeypatch.setenv("IDEMPOTENCY_TTL", "3600")
    assert (get_settings().result_ttl, get_settings().idempotency_ttl) == (60, 3600)


def test_a_bad_number_names_the_variable(monkeypatch):
    monkeypatch.setenv("EMAIL_DELAY", "ten")
    with pytest.raises(ValueError, match="EMAIL_DELAY='ten'"):
        get_settings()


@pytest.mark.parametrize("raw", ["0", "-5", "1.5", "soon"])
def test_a_ttl_must_be_a_whole_number_of_seconds(monkeypatch, raw):
    monkeypatch.setenv("RESULT_TTL", raw)
    with pytest.raises(ValueError, match=f"RESULT_TTL='{raw}' is not a whole number"):
        get_settings()


def test_safe_url_hides_the_password():
    assert safe_url("redis://:s3cret@host:6379/0") == "redis://:***@host:6379/0"
    assert safe_url("redis://user:s3cret@host/0") == "redis://user:***@host/0"
    assert safe_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
