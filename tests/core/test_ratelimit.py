"""Rate limits: the buckets on a controlled clock, then 429s and headers through real HTTP."""

from __future__ import annotations

import math

import httpx
import pytest

from ollama_gateway.app import create_app
from ollama_gateway.http.auth import ApiKey, digest_of
from ollama_gateway.http.ratelimit import KeyRateLimited, RateLimiter
from tests.support.live import serve
from tests.support.secrets import KEY_A, KEY_B


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _key(rpm=None, tpm=None, name="k") -> ApiKey:
    return ApiKey(digest_of(name), name, rpm, tpm)


def test_requests_per_minute_refill_continuously_and_retry_after_is_exact():
    clock = Clock()
    limiter = RateLimiter(rpm=None, tpm=None, keyed=True, clock=clock)
    key = _key(rpm=3)
    for _ in range(3):
        limiter.admit(key, None)
    with pytest.raises(KeyRateLimited) as info:
        limiter.admit(key, None)
    assert info.value.retry_after == pytest.approx(20.0)  # one request back every 60/3 s
    headers = info.value.headers()
    assert headers["Retry-After"] == "20"
    assert headers["x-ratelimit-limit"] == "3"
    assert headers["x-ratelimit-remaining"] == "0"
    assert headers["x-ratelimit-reset"] == "60"
    clock.now += 19.9
    with pytest.raises(KeyRateLimited):
        limiter.admit(key, None)
    clock.now += 0.1  # exactly when Retry-After said
    admitted = limiter.admit(key, None)
    assert dict(admitted.headers)[b"x-ratelimit-remaining"] == b"0"


def test_a_key_over_its_token_budget_is_refused_until_it_refills():
    clock = Clock()
    limiter = RateLimiter(rpm=None, tpm=120, keyed=True, clock=clock)  # 2 tokens per second
    key = _key()
    admitted = limiter.admit(key, None)
    admitted.usage.add(150)  # a long generation: 30 tokens into debt
    with pytest.raises(KeyRateLimited) as info:
        limiter.admit(key, None)
    assert info.value.retry_after == pytest.approx(15.5)  # 31 tokens at 2 per second
    assert info.value.headers()["Retry-After"] == "16"
    assert "120 generated tokens per minute" in info.value.message
    clock.now += 15.5
    headers = dict(limiter.admit(key, None).headers)
    assert headers[b"x-ratelimit-limit-tokens"] == b"120"
    assert headers[b"x-ratelimit-remaining-tokens"] == b"1"
    assert headers[b"x-ratelimit-reset-tokens"] == str(math.ceil(119 / 2)).encode()


def test_per_key_limits_override_the_defaults_and_keys_are_counted_apart():
    limiter = RateLimiter(rpm=1, tpm=None, keyed=True, clock=Clock())
    generous, other = _key(rpm=5, name="g"), _key(name="o")
    for _ in range(5):
        limiter.admit(generous, None)
    limiter.admit(other, None)
    with pytest.raises(KeyRateLimited):
        limiter.admit(other, None)
    with pytest.raises(KeyRateLimited):
        limiter.admit(generous, None)


def test_without_keys_each_address_is_limited_and_no_limit_means_no_state():
    limiter = RateLimiter(rpm=1, tpm=None, keyed=False, clock=Clock())
    limiter.admit(None, "10.0.0.1")
    limiter.admit(None, "10.0.0.2")
    with pytest.raises(KeyRateLimited):
        limiter.admit(None, "10.0.0.1")
    unlimited = RateLimiter(rpm=None, tpm=None, keyed=True, clock=Clock())
    assert unlimited.admit(_key(), None) is None
    assert unlimited._clients == {}


def test_idle_clients_are_forgotten():
    clock = Clock()
    limiter = RateLimiter(rpm=60, tpm=None, keyed=False, clock=clock)
    for n in range(5000):
        limiter.admit(None, f"10.0.{n // 256}.{n % 256}")
        clock.now += 0.01
    clock.now += 61
    for n in range(5000):
        limiter.admit(None, f"10.1.{n // 256}.{n % 256}")
    assert len(limiter._clients) <= 2 * 5000


def _keys_file(tmp_path, text: str):
    path = tmp_path / "keys"
    path.write_text(text)
    return path


def test_http_429_with_retry_after_and_headers(make_settings, ollama, tmp_path):
    keys = _keys_file(tmp_path, f"{KEY_A} name=alice rpm=2\n{KEY_B} name=bob\n")
    settings = make_settings(
        backend="ollama", ollama_url=ollama.url, keys_file=keys, rate_limit_rpm=100
    )
    with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=10) as client:
        alice = {"X-API-KEY": KEY_A}
        first = client.post("/api/generate", json={"prompt": "x"}, headers=alice)
        second = client.post("/api/chat", json={"messages": []}, headers=alice)
        refused = client.post("/api/generate", json={"prompt": "x"}, headers=alice)
        chat_refused = client.post("/api/chat", json={"messages": []}, headers=alice)
        bob = client.post("/api/generate", json={"prompt": "x"}, headers={"X-API-KEY": KEY_B})
        health = client.get("/health")
    assert first.status_code == 200 and second.status_code == 200
    assert first.headers["x-ratelimit-limit"] == "2"
    assert first.headers["x-ratelimit-remaining"] == "1"
    assert second.headers["x-ratelimit-remaining"] == "0"
    assert 0 < int(second.headers["x-ratelimit-reset"]) <= 60

    assert refused.status_code == 429
    assert refused.headers["retry-after"] in ("29", "30")  # one request back every 30 s
    assert refused.headers["x-ratelimit-limit"] == "2"
    assert refused.headers["x-ratelimit-remaining"] == "0"
    message = refused.json()["error"]
    assert message.startswith("rate limit exceeded: 2 requests per minute")
    assert refused.json() == {"error": message, "detail": message}  # the seed shape
    assert chat_refused.status_code == 429 and chat_refused.json() == {"error": message}
    assert "x-request-id" in refused.headers

    assert bob.status_code == 200 and bob.headers["x-ratelimit-limit"] == "100"
    assert health.status_code == 200 and "x-ratelimit-limit" not in health.headers
    assert len([r for r in ollama.requests if r.path.startswith("/api/")]) == 3


def test_http_token_budget_from_the_final_chunk(make_settings, ollama, tmp_path):
    keys = _keys_file(tmp_path, f"{KEY_A} tpm=6\n")  # the fake generates 4 tokens per reply
    settings = make_settings(backend="ollama", ollama_url=ollama.url, keys_file=keys)
    with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=10) as client:
        alice = {"Authorization": f"Bearer {KEY_A}"}
        first = client.post("/api/generate", json={"prompt": "x"}, headers=alice)
        with client.stream(
            "POST", "/api/chat", json={"messages": [], "stream": True}, headers=alice
        ) as second:
            lines = list(second.iter_lines())
        third = client.post("/api/generate", json={"prompt": "x"}, headers=alice)
    assert first.status_code == 200 and first.headers["x-ratelimit-remaining-tokens"] == "6"
    assert second.status_code == 200 and second.headers["x-ratelimit-remaining-tokens"] == "2"
    assert '"done":true' in lines[-1]
    assert third.status_code == 429
    # 8 tokens used of 6: 2 in debt, one more needed; 6 per minute is one per 10 s
    assert third.headers["retry-after"] in ("29", "30")
    assert "6 generated tokens per minute" in third.json()["error"]


def test_http_without_keys_limits_each_address(make_settings, ollama):
    settings = make_settings(backend="ollama", ollama_url=ollama.url, rate_limit_rpm=1)
    with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=10) as client:
        assert client.post("/api/generate", json={"prompt": "x"}).status_code == 200
        refused = client.post("/api/generate", json={"prompt": "x"})
    assert refused.status_code == 429 and refused.headers["retry-after"] in ("59", "60")


def test_http_429_in_the_openai_shape(make_settings, ollama):
    settings = make_settings(backend="ollama", ollama_url=ollama.url, rate_limit_rpm=1)
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=10) as client:
        client.post("/v1/chat/completions", json=body)
        refused = client.post("/v1/chat/completions", json=body)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["type"] == "rate_limit_error" and error["code"] == "rate_limit_exceeded"
    assert error["message"].startswith("rate limit exceeded: 1 request per minute")
    assert refused.headers["retry-after"] in ("59", "60")
