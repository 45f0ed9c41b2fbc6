"""The embedded backend behind the real HTTP app, driven by the official ``ollama`` client."""

from __future__ import annotations

import time

import httpx
import ollama
import pytest

from ollama_gateway.app import create_app
from tests.backends.llama_cpp.conftest import TINY, store_model
from tests.support.live import LiveServer

KEY = "embedded-test-key-0123456789"


@pytest.fixture
def server(make_settings, tiny_path, tmp_path):
    settings = make_settings(
        backend="embedded",
        model=str(tiny_path),  # served as TINY
        models_dir=tmp_path / "store",
        api_keys=KEY,
        num_ctx=2048,
        parallel=2,
        num_threads=1,
        pull_on_start=False,
    )
    app = create_app(settings)
    live = LiveServer(app)
    live.start()
    yield live, app
    live.stop()


def client(url: str) -> ollama.Client:
    return ollama.Client(host=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)


def test_generate_streamed_and_whole_agree(server, tiny_path):
    live, _ = server
    c = client(live.url)
    options = {"temperature": 0, "num_predict": 12}
    whole = c.generate(model=TINY, prompt="hello world", options=options)
    parts = list(c.generate(model=TINY, prompt="hello world", options=options, stream=True))
    assert "".join(p.response for p in parts) == whole.response
    assert whole.done and whole.done_reason == "length"
    assert whole.eval_count == 12
    assert whole.total_duration > 0


def test_chat_over_http(server, tiny_path):
    live, _ = server
    reply = client(live.url).chat(
        model=TINY,
        messages=[{"role": "user", "content": "hi"}],
        options={"temperature": 0, "num_predict": 5},
    )
    assert reply.message.role == "assistant"
    assert reply.eval_count == 5


def test_default_model_and_errors(server, tiny_path, tmp_path):
    live, app = server
    c = client(live.url)
    seed = httpx.post(  # the seed contract: no model named, one JSON object back
        f"{live.url}/api/generate",
        json={"prompt": "hi", "options": {"temperature": 0, "num_predict": 3}},
        headers={"X-API-KEY": KEY},
        timeout=30,
    )
    assert seed.status_code == 200
    assert seed.json()["generated_text"] == seed.json()["response"]
    assert seed.json()["eval_count"] == 3
    with pytest.raises(ollama.ResponseError) as err:
        c.generate(model=TINY, prompt="hello " * 3000)
    assert err.value.status_code == 400
    assert "2048" in err.value.error
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"nope" * 10)
    store_model(app.state.backend.store, bad, "bad:latest")
    with pytest.raises(ollama.ResponseError) as err:
        c.generate(model="bad", prompt="hi")
    assert err.value.status_code == 500
    assert '"bad:latest"' in err.value.error


def test_client_disconnect_frees_the_slot(server, tiny_path):
    live, app = server
    body = {
        "model": TINY,
        "prompt": "hello",
        "options": {"temperature": 0, "num_predict": 1900},
        "stream": True,
    }
    headers = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(timeout=30) as http:
        with http.stream("POST", f"{live.url}/api/generate", json=body, headers=headers) as resp:
            assert resp.status_code == 200
            lines = resp.iter_lines()
            next(lines)
            next(lines)
        # the response is closed: the server notices and the sequence leaves its slot
        [loaded] = app.state.backend.manager.models.values()
        engine = loaded.engine
        deadline = time.monotonic() + 10
        while engine.busy and time.monotonic() < deadline:
            time.sleep(0.02)
        assert engine.busy == 0
        assert engine.tokens_generated < 1900
