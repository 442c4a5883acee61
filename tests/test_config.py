"""Settings come from environment variables, read at each call."""

from __future__ import annotations

import pytest

from lab.support.config import PROJECT_ROOT, get_settings, safe_url


def test_defaults(monkeypatch):
    for name in ("REDIS_URL", "REDIS_TIMEOUT", "EMAIL_DELAY", "QUEUE_NAME", "REDIS_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    settings = get_settings()
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.redis_timeout == 1.0
    assert settings.email_delay == 10.0
    assert settings.queue_name == "default"
    assert settings.redis_data_dir == PROJECT_ROOT / ".redis"


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


def test_a_bad_number_names_the_variable(monkeypatch):
    monkeypatch.setenv("EMAIL_DELAY", "ten")
    with pytest.raises(ValueError, match="EMAIL_DELAY='ten'"):
        get_settings()


def test_safe_url_hides_the_password():
    assert safe_url("redis://:s3cret@host:6379/0") == "redis://:***@host:6379/0"
    assert safe_url("redis://user:s3cret@host/0") == "redis://user:***@host/0"
    assert safe_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
