"""Request headers over MAX_HEADER_BYTES (16 KiB) in all, or more than 100 of them, get 431
JSON before the app runs (lab/support/api/header_limit.py). uvicorn with httptools, its
parser here, has no limit of its own: a 1 MB header, or 10,000 headers, got 202."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from lab.support.api.header_limit import MAX_HEADERS
from lab.support.config import get_settings
from lab.support.servers.processes import start_api

ADDRESS = "user@example.com"
BODY = {"email": ADDRESS, "delay": 0}


def head_of(client: TestClient, headers: dict[str, str]) -> tuple[int, int]:
    """(count, bytes of names and values) of the headers `client` sends with `headers`
    on a POST of BODY, as the app receives them."""
    sent = client.build_request("POST", "/emails", json=BODY, headers=headers).headers
    items = sent.multi_items()
    return len(items), sum(len(name) + len(value) for name, value in items)


def padded(client: TestClient, total: int) -> dict[str, str]:
    """An X-Padding header that makes the request's headers add up to `total` bytes."""
    _, base = head_of(client, {"X-Padding": ""})
    return {"X-Padding": "p" * (total - base)}


def test_headers_of_max_header_bytes_pass_and_one_byte_more_is_431(reference_api, queue):
    limit = get_settings().max_header_bytes
    assert limit == 16384
    at_limit = padded(reference_api, limit)
    assert head_of(reference_api, at_limit)[1] == limit
    assert reference_api.post("/emails", json=BODY, headers=at_limit).status_code == 202
    assert queue.count == 1
    over = padded(reference_api, limit + 1)
    response = reference_api.post("/emails", json=BODY, headers=over)
    assert response.status_code == 431
    detail = response.json()["detail"]
    assert f"{limit + 1} bytes" in detail and "MAX_HEADER_BYTES" in detail, detail
    assert queue.count == 1  # the app did not run


def test_100_headers_pass_and_101_are_431(reference_api, queue):
    count, _ = head_of(reference_api, {})
    extra = {f"X-Extra-{i}": "1" for i in range(MAX_HEADERS - count)}
    assert head_of(reference_api, extra)[0] == MAX_HEADERS == 100
    assert reference_api.post("/emails", json=BODY, headers=extra).status_code == 202
    extra["X-One-Too-Many"] = "1"
    response = reference_api.post("/emails", json=BODY, headers=extra)
    assert response.status_code == 431
    assert "101 headers, more than 100" in response.json()["detail"]
    assert queue.count == 1


def test_the_limit_is_the_setting_at_the_request(reference_api, monkeypatch):
    monkeypatch.setenv("MAX_HEADER_BYTES", "1024")
    get_settings.cache_clear()
    response = reference_api.get("/health", headers={"X-Padding": "p" * 1024})
    assert response.status_code == 431
    assert "more than 1024 (MAX_HEADER_BYTES)" in response.json()["detail"]
    assert reference_api.get("/health", headers={"X-Padding": "p" * 500}).status_code == 200


@pytest.mark.parametrize("shape", ["one-1-MB-header", "10000-headers"])
def test_uvicorn_answers_431_to_huge_headers_and_goes_on(redis_conn, queue, shape):
    if shape == "one-1-MB-header":
        headers = [("X-Padding", "p" * 2**20)]
    else:
        headers = [(f"X-Extra-{i}", "1") for i in range(10_000)]
    with start_api(package="solutions") as api:
        response = httpx.post(f"{api.url}/emails", json=BODY, headers=headers, timeout=30)
        assert response.status_code == 431, response.text
        assert "headers" in response.json()["detail"]
        assert queue.count == 0
        after = httpx.post(f"{api.url}/emails", json=BODY, timeout=10)
        assert after.status_code == 202, after.text
        said = api.output()
    assert "Traceback" not in said, said
