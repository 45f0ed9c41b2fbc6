"""Queue depth, running slots and rejections by reason, as the scheduler and rate limiter act."""

from __future__ import annotations

import threading
import time

import httpx

from ollama_gateway.app import create_app
from tests.observability.scrape import label_values, scrape, value
from tests.support.live import serve
from tests.support.secrets import KEY_A

AUTH = {"X-API-KEY": KEY_A}


def _until(url: str, check, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(url, settle=False)
        if check(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.02)


def test_slots_queue_and_rejections(ollama, make_settings):
    ollama.script("trickle", trickle=0.3)
    settings = make_settings(
        backend="ollama", ollama_url=ollama.url, parallel=1, max_queue=1, queue_timeout=1.0
    )
    with serve(create_app(settings)) as url:
        release = threading.Event()
        first_line = threading.Event()
        results: dict[str, int] = {}

        def hold() -> None:  # `trickle` streams until the client leaves: it holds the only slot
            body = {"model": "trickle", "prompt": "x", "stream": True}
            with httpx.stream("POST", url + "/api/generate", json=body, timeout=30) as r:
                for _ in r.iter_lines():
                    first_line.set()
                    if release.is_set():
                        break

        def queued() -> None:
            body = {"model": "trickle", "prompt": "x"}
            results["queued"] = httpx.post(url + "/api/generate", json=body, timeout=30).status_code

        holder = threading.Thread(target=hold)
        holder.start()
        assert first_line.wait(10)
        samples = scrape(url, settle=False)
        assert value(samples, "ollama_gateway_running_slots", model="trickle:latest") == 1
        assert value(samples, "ollama_gateway_queue_depth", model="trickle:latest") == 0

        waiter = threading.Thread(target=queued)
        waiter.start()
        samples = _until(
            url, lambda s: value(s, "ollama_gateway_queue_depth", model="trickle:latest") == 1
        )
        assert value(samples, "ollama_gateway_queue_depth", model="trickle:latest") == 1
        # the queue is full: refused at once
        full = httpx.post(url + "/api/generate", json={"model": "trickle", "prompt": "x"})
        assert full.status_code == 503
        waiter.join(10)  # the waiter gives up after queue_timeout
        assert results["queued"] == 503
        release.set()
        holder.join(10)
        samples = _until(
            url, lambda s: not label_values(s, "ollama_gateway_running_slots", "model")
        )
    assert value(samples, "ollama_gateway_rejected_requests_total", reason="queue_full") == 1
    assert value(samples, "ollama_gateway_rejected_requests_total", reason="queue_timeout") == 1
    assert label_values(samples, "ollama_gateway_running_slots", "model") == set()
    assert label_values(samples, "ollama_gateway_queue_depth", "model") == set()
    # the gateway's own 503s are not the upstream's errors
    assert label_values(samples, "ollama_gateway_upstream_errors_total", "kind") == set()
    statuses = {
        dict(labels)["status"]: v
        for (name, labels), v in samples.items()
        if name == "ollama_gateway_requests_total" and dict(labels)["route"] == "/api/generate"
    }
    assert statuses.get("503") == 2


def test_rate_limited_requests_are_rejections(ollama, make_settings):
    settings = make_settings(
        backend="ollama",
        ollama_url=ollama.url,
        api_keys=[KEY_A],
        rate_limit_rpm=1,
        metrics_public=True,  # a keyed scrape would count against the key's own limit
    )
    with serve(create_app(settings)) as url:
        assert (
            httpx.post(url + "/api/generate", json={"prompt": "x"}, headers=AUTH).status_code == 200
        )
        limited = httpx.post(url + "/api/generate", json={"prompt": "x"}, headers=AUTH)
        assert limited.status_code == 429
        samples = scrape(url)
    assert value(samples, "ollama_gateway_rejected_requests_total", reason="rate_limit") == 1
    route_429 = value(
        samples, "ollama_gateway_requests_total", route="/api/generate", method="POST", status="429"
    )
    assert route_429 == 1
