"""``/ready`` flips with the upstream and with a model load; ``/health`` never calls the backend."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx

from ollama_gateway.api.health import Readiness
from ollama_gateway.app import create_app
from ollama_gateway.core.types import RunningModel
from tests.observability.scrape import scrape, value
from tests.support.fake_ollama import FakeOllama
from tests.support.live import serve
from tests.support.processes import free_port
from tests.support.secrets import KEY_A


def _wait_ready(url: str, status: int, timeout: float = 10.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        r = httpx.get(url + "/ready", timeout=5)
        if r.status_code == status or time.monotonic() > deadline:
            return r
        time.sleep(0.05)


def test_ready_follows_the_upstream_going_away_and_coming_back(make_settings):
    port = free_port()
    settings = make_settings(backend="ollama", ollama_url=f"http://127.0.0.1:{port}")
    app = create_app(settings)
    app.state.readiness = Readiness(ttl=0.1)  # the cache has its own test; keep this one quick
    with serve(app) as url:
        down = httpx.get(url + "/ready")
        assert down.status_code == 503
        assert down.json()["status"] == "upstream_unavailable"
        assert f"127.0.0.1:{port}" in down.json()["reason"]
        assert httpx.get(url + "/health").status_code == 200

        upstream = FakeOllama(record=False)
        upstream.start(port)
        try:
            up = _wait_ready(url, 200)
            assert up.status_code == 200
            assert up.json() == {"status": "ready", "backend": "ollama"}
        finally:
            upstream.stop()
        gone = _wait_ready(url, 503)
        assert gone.status_code == 503
        assert gone.json()["status"] == "upstream_unavailable"

        again = FakeOllama(record=False)
        again.start(port)
        try:
            assert _wait_ready(url, 200).status_code == 200
        finally:
            again.stop()


def test_probes_are_cached_so_they_cannot_hammer_ollama(ollama, make_settings):
    settings = make_settings(backend="ollama", ollama_url=ollama.url)
    with serve(create_app(settings)) as url, httpx.Client() as client:
        started = time.monotonic()
        for _ in range(20):
            assert client.get(url + "/ready").status_code == 200
        elapsed = time.monotonic() - started
    checks = [r for r in ollama.requests if r.path == "/api/version"]
    assert 1 <= len(checks) <= 1 + int(elapsed / 1.0) + 1


def test_ready_and_health_are_public_and_answer_head(ollama, make_settings):
    settings = make_settings(backend="ollama", ollama_url=ollama.url, api_keys=[KEY_A])
    with serve(create_app(settings)) as url:
        assert httpx.get(url + "/ready").status_code == 200
        assert httpx.head(url + "/ready").status_code == 200
        assert httpx.head(url + "/health").status_code == 200
        assert httpx.head(url + "/").status_code == 200
        assert httpx.get(url + "/api/tags").status_code == 401
    assert [r.path for r in ollama.requests] == ["/api/version"]  # /health asked nothing


class GatedBackend:
    """Stands in for the embedded engine: "loading" until the test releases it."""

    name = "gated"
    splits_thinking = False

    def __init__(self, model: str = "tiny:1b") -> None:
        self.model = model
        self.release = threading.Event()
        self.metrics = None
        self._started = 0.0

    def bind_metrics(self, metrics) -> None:
        self.metrics = metrics

    async def start(self) -> None:
        self._started = time.perf_counter()

    async def close(self) -> None:
        pass

    async def check_ready(self) -> tuple[bool, str]:
        if not self.release.is_set():
            return False, f"loading {self.model}"
        if self.metrics is not None and self._started:
            self.metrics.observe_load(self.model, time.perf_counter() - self._started)
            self._started = 0.0
        return True, ""

    async def running(self) -> list[RunningModel]:
        if not self.release.is_set():
            return []
        return [RunningModel(name=self.model, size=4096, expires_at="2030-01-01T00:00:00Z")]


def test_ready_waits_for_the_model_load(make_settings):
    backend = GatedBackend()
    app = create_app(make_settings(), backend=backend)
    app.state.readiness = Readiness(ttl=0.1)
    with serve(app) as url:
        loading = httpx.get(url + "/ready")
        assert loading.status_code == 503
        assert loading.json() == {"status": "loading", "reason": "loading tiny:1b"}
        assert value(scrape(url), "ollama_gateway_loaded_models") == 0
        time.sleep(0.2)
        backend.release.set()
        assert _wait_ready(url, 200).json() == {"status": "ready", "backend": "gated"}
        samples = scrape(url)
    assert value(samples, "ollama_gateway_loaded_models") == 1
    assert value(samples, "ollama_gateway_loaded_model_size_bytes", model="tiny:1b") == 4096
    assert value(samples, "ollama_gateway_model_load_duration_seconds_count", model="tiny:1b") == 1
    assert value(samples, "ollama_gateway_model_load_duration_seconds_sum", model="tiny:1b") >= 0.2


class HangingBackend(GatedBackend):
    async def check_ready(self) -> tuple[bool, str]:
        await asyncio.sleep(30)
        return True, ""


async def test_a_hanging_check_is_not_ready_and_concurrent_probes_share_it():
    probe = Readiness(ttl=1.0, timeout=0.2)
    backend = HangingBackend()
    started = time.monotonic()
    results = await asyncio.gather(*(probe.check(backend) for _ in range(5)))
    assert time.monotonic() - started < 2
    assert {r[:2] for r in results} == {(False, "loading")}
    assert "0.2s" in results[0][2]


async def test_no_backend_yet_is_loading():
    assert await Readiness().check(None) == (False, "loading", "the backend is starting")


async def test_without_cache_every_probe_asks():
    backend = GatedBackend()
    probe = Readiness(ttl=0.0)
    assert (await probe.check(backend))[0] is False
    backend.release.set()
    assert (await probe.check(backend))[0] is True
