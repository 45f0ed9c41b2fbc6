"""Ollama's model endpoints through a live gateway in front of the fake Ollama."""

from __future__ import annotations

import httpx
import pytest

from tests.api.conftest import ndjson
from tests.support.scripted import ScriptedBackend

NOT_FOUND = 'model "{}" not found, try pulling it first'


def test_tags_lists_models_in_ollamas_shape(gateway):
    r = httpx.get(gateway + "/api/tags")
    assert r.status_code == 200
    models = r.json()["models"]
    assert [m["name"] for m in models] == ["deepseek-r1:1.5b", "llama2:latest"]
    assert models[0] == {
        "name": "deepseek-r1:1.5b",
        "model": "deepseek-r1:1.5b",
        "modified_at": "2025-01-01T00:00:00Z",
        "size": 1117322768,
        "digest": "a" * 64,
        "details": {"family": "qwen2"},
    }


def test_ps_lists_running_models(gateway):
    models = httpx.get(gateway + "/api/ps").json()["models"]
    assert [(m["name"], m["model"], m["size_vram"]) for m in models] == [
        ("deepseek-r1:1.5b", "deepseek-r1:1.5b", 0)
    ]


def test_version_reports_the_upstream_version(gateway, scripted):
    assert httpx.get(gateway + "/api/version").json() == {"version": "0.12.0"}
    with scripted(ScriptedBackend()) as url:  # no upstream: the API version we speak
        assert httpx.get(url + "/api/version").json() == {"version": "0.12.0"}


def test_show_passes_ollamas_reply_and_accepts_the_old_name_field(gateway, ollama):
    r = httpx.post(gateway + "/api/show", json={"model": "llama2:latest"})
    assert r.status_code == 200
    assert r.json()["model_info"] == {"general.architecture": "qwen2"}
    assert r.json()["capabilities"] == ["completion"]
    r = httpx.post(gateway + "/api/show", json={"name": "llama2:latest", "verbose": True})
    assert r.status_code == 200
    assert ollama.last("/api/show").body == {"model": "llama2:latest", "verbose": True}


def test_show_always_has_model_info(scripted):
    with scripted(ScriptedBackend()) as url:
        assert httpx.post(url + "/api/show", json={"model": "tiny"}).json()["model_info"] == {}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/show", {"model": "nope"}),
        ("DELETE", "/api/delete", {"model": "nope"}),
    ],
)
def test_unknown_models_are_404(gateway, method, path, body):
    r = httpx.request(method, gateway + path, json=body)
    assert r.status_code == 404
    assert r.json() == {"error": NOT_FOUND.format("nope")}


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/api/show", {}, "field 'model' is required"),
        ("/api/pull", {"model": " "}, "field 'model' is required"),
        ("/api/copy", {"source": "a"}, "field 'destination' is required"),
        ("/api/embed", {"input": 3}, "invalid 'input"),
        ("/api/embed", {"input": "x", "dimensions": 0}, "invalid 'dimensions'"),
        ("/api/embeddings", {"prompt": ["x"]}, "invalid 'prompt'"),
    ],
)
def test_bad_bodies_are_400_in_ollamas_shape(gateway, path, body, message):
    r = httpx.post(gateway + path, json=body)
    assert r.status_code == 400
    assert set(r.json()) == {"error"} and message in r.json()["error"], r.json()


def test_pull_streams_progress_then_success(gateway, ollama):
    r = httpx.post(gateway + "/api/pull", json={"model": "newmodel:1b"})
    assert r.headers["content-type"] == "application/x-ndjson"
    events = ndjson(r)
    assert events[0] == {"status": "pulling manifest"}
    assert events[1] == {
        "status": "pulling abc",
        "digest": "sha256:abc",
        "total": 10,
        "completed": 10,
    }
    assert events[-1] == {"status": "success"}
    assert "newmodel:1b" in [m["name"] for m in httpx.get(gateway + "/api/tags").json()["models"]]
    ollama.models.remove("newmodel:1b")


def test_pull_without_streaming_is_the_final_status(gateway, ollama):
    r = httpx.post(gateway + "/api/pull", json={"name": "other:2b", "stream": False})
    assert r.status_code == 200
    assert r.json() == {"status": "success"}
    ollama.models.remove("other:2b")


def test_pull_failure_after_progress_is_in_band_or_a_status(scripted):
    with scripted(ScriptedBackend()) as url:
        events = ndjson(httpx.post(url + "/api/pull", json={"model": "x"}))
        assert events == [{"status": "pulling manifest"}, {"error": "registry went away"}]
        r = httpx.post(url + "/api/pull", json={"model": "x", "stream": False})
        assert (r.status_code, r.json()) == (500, {"error": "registry went away"})


def test_copy_then_delete(gateway, ollama):
    r = httpx.post(gateway + "/api/copy", json={"source": "llama2:latest", "destination": "mine"})
    assert (r.status_code, r.content) == (200, b"")
    assert ollama.last("/api/copy").body == {"source": "llama2:latest", "destination": "mine"}
    r = httpx.request("DELETE", gateway + "/api/delete", json={"model": "mine"})
    assert (r.status_code, r.content) == (200, b"")
    assert "mine" not in ollama.models


def test_copy_of_a_missing_model_is_404(gateway):
    r = httpx.post(gateway + "/api/copy", json={"source": "missing", "destination": "b"})
    assert r.status_code == 404
    assert r.json() == {"error": NOT_FOUND.format("missing")}


def test_embed_one_or_many(gateway, ollama):
    r = httpx.post(gateway + "/api/embed", json={"model": "llama2", "input": "hello"})
    assert r.json() == {
        "model": "llama2",
        "embeddings": [[0.1, 1.1, 2.1]],
        "total_duration": 5000,
        "load_duration": 100,
        "prompt_eval_count": 1,
    }
    r = httpx.post(
        gateway + "/api/embed",
        json={"model": "llama2", "input": ["a", "b"], "truncate": False, "dimensions": 2},
    )
    assert r.json()["embeddings"] == [[0.1, 1.1], [0.2, 1.2]]
    assert ollama.last("/api/embed").body == {
        "model": "llama2",
        "input": ["a", "b"],
        "truncate": False,
        "dimensions": 2,
    }


def test_embed_without_a_model_uses_the_default(gateway, ollama):
    httpx.post(gateway + "/api/embed", json={"input": "x"})
    assert ollama.last("/api/embed").body["model"] == "deepseek-r1:1.5b"


def test_embed_nothing_is_an_empty_list(gateway):
    r = httpx.post(gateway + "/api/embed", json={"model": "llama2", "input": []})
    assert r.json() == {"model": "llama2", "embeddings": []}


def test_legacy_embeddings(gateway, ollama):
    r = httpx.post(gateway + "/api/embeddings", json={"model": "llama2", "prompt": "hello"})
    assert r.json() == {"embedding": [0.1, 1.1, 2.1]}
    assert ollama.last("/api/embed").body == {"model": "llama2", "input": ["hello"]}
    assert httpx.post(gateway + "/api/embeddings", json={"model": "llama2"}).json() == {
        "embedding": []
    }


def test_embed_of_a_missing_model_is_404(gateway):
    for path, body in (("/api/embed", {"input": "x"}), ("/api/embeddings", {"prompt": "x"})):
        r = httpx.post(gateway + path, json={"model": "missing", **body})
        assert r.status_code == 404 and r.json() == {"error": NOT_FOUND.format("missing")}


def test_upstream_unreachable_is_503(make_settings):
    from ollama_gateway.app import create_app
    from tests.support.live import serve

    settings = make_settings(backend="ollama", ollama_url="http://127.0.0.1:9", connect_timeout=1)
    with serve(create_app(settings)) as url:
        r = httpx.get(url + "/api/tags")
    assert r.status_code == 503
    assert r.json()["error"].startswith("cannot reach Ollama at http://127.0.0.1:9")
