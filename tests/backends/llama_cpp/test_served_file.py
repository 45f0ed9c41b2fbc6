"""``--model ./file.gguf`` and ``--model name=path``: the file is a model with a short name.

It is listed by ``/api/tags`` and ``/v1/models`` (so the official clients' ``list()`` see it),
replies, ``/api/ps``, the metrics and the access log use that name, and no ``/api/delete`` can
unload it. Driven by the official ``ollama`` and ``openai`` clients.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import ollama
import openai
import pytest

from ollama_gateway.app import create_app
from ollama_gateway.settings import Settings
from tests.observability.scrape import label_values, scrape
from tests.support.live import LiveServer

KEY = "served-file-key-0123456789abcdef"


def _gateway(model: str, store: Path) -> tuple[LiveServer, object]:
    settings = Settings(
        _env_file=None,
        backend="embedded",
        model=model,
        models_dir=store,
        api_keys=KEY,
        num_ctx=512,
        parallel=1,
        num_threads=1,
        pull_on_start=False,
    )
    app = create_app(settings)
    live = LiveServer(app)
    live.start()
    return live, app


@pytest.fixture
def by_path(tiny_path: Path, tmp_path: Path) -> Iterator[str]:
    live, _ = _gateway(str(tiny_path), tmp_path / "store")
    yield live.url
    live.stop()


@pytest.fixture
def by_name(tiny_path: Path, tmp_path: Path) -> Iterator[str]:
    live, _ = _gateway(f"team/mini:v1={tiny_path}", tmp_path / "store")
    yield live.url
    live.stop()


def _ollama(url: str) -> ollama.Client:
    return ollama.Client(host=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60)


def _openai(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key=KEY, timeout=60)


def test_the_file_is_listed_and_answers_under_its_stem(by_path, tiny_path, caplog):
    client = _ollama(by_path)
    assert [m.model for m in client.list().models] == ["tiny:latest"]
    [listed] = client.list().models
    assert listed.size == tiny_path.stat().st_size
    assert listed.details is not None and listed.details.family == "llama"
    assert [m.id for m in _openai(by_path).models.list()] == ["tiny:latest"]
    assert _openai(by_path).models.retrieve("tiny:latest").id == "tiny:latest"
    assert client.show("tiny").details.family == "llama"
    with caplog.at_level(logging.INFO, logger="ollama_gateway.access"):
        seed = httpx.post(  # no model named: the default, by its name, never its path
            by_path + "/api/generate",
            json={"prompt": "hi", "options": {"num_predict": 2}},
            headers={"X-API-KEY": KEY},
            timeout=60,
        )
    assert seed.status_code == 200
    assert seed.json()["model"] == "tiny:latest"
    access = [r.getMessage() for r in caplog.records if r.name == "ollama_gateway.access"]
    assert any("model=tiny:latest " in line for line in access), access
    assert client.generate(model="tiny", prompt="hi", options={"num_predict": 2}).model == "tiny"
    chat = _openai(by_path).chat.completions.create(
        model="tiny:latest", messages=[{"role": "user", "content": "hi"}], max_tokens=2
    )
    assert chat.model == "tiny:latest"
    assert [m.model for m in client.ps().models] == ["tiny:latest"]
    samples = scrape(by_path, headers={"X-API-KEY": KEY})
    assert label_values(samples, "ollama_gateway_loaded_model_size_bytes", "model") == {
        "tiny:latest"
    }
    assert label_values(samples, "ollama_gateway_generated_tokens_total", "model") == {
        "tiny:latest",
        "tiny",
    }


def test_delete_cannot_unload_the_served_file(by_path, tiny_path):
    client = _ollama(by_path)
    client.generate(model="tiny", prompt="")  # loaded
    for name, status, message in [
        ("tiny:latest", 404, "model 'tiny:latest' not found"),  # Ollama's answer: not stored
        ("tiny", 404, "model 'tiny' not found"),
        (str(tiny_path), 400, "invalid model name"),  # refused: not even looked at
        ("/etc/passwd", 400, "invalid model name"),
    ]:
        with pytest.raises(ollama.ResponseError) as err:
            client.delete(name)
        assert err.value.status_code == status
        assert err.value.error.startswith(message)
        assert [m.model for m in client.ps().models] == ["tiny:latest"]  # still loaded
    assert tiny_path.is_file()
    assert [m.model for m in client.list().models] == ["tiny:latest"]


def test_name_equals_path_serves_the_file_under_that_name(by_name):
    client = _ollama(by_name)
    assert [m.model for m in client.list().models] == ["team/mini:v1"]
    assert [m.id for m in _openai(by_name).models.list()] == ["team/mini:v1"]
    reply = client.generate(model="team/mini:v1", prompt="hi", options={"num_predict": 2})
    assert reply.model == "team/mini:v1"
    seed = httpx.post(
        by_name + "/api/generate", json={"prompt": "hi"}, headers={"X-API-KEY": KEY}, timeout=60
    )
    assert seed.json()["model"] == "team/mini:v1"
    assert [m.model for m in client.ps().models] == ["team/mini:v1"]
    with pytest.raises(ollama.ResponseError) as err:
        client.generate(model="tiny", prompt="hi")  # the stem is not a name of it here
    assert err.value.status_code == 404
