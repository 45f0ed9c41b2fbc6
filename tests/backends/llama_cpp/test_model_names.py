"""Model names are identities (issue 11 §4), on the embedded engine behind the real HTTP app.

- A name in a request is a name, never a path: path-like or odd names are a 400 ``invalid model
  name`` in each API's shape, decided without touching the filesystem, so an existing file and a
  missing one get the same answer (no existence oracle).
- Two names of one weights file share one loaded model; each still answers under its own name.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from ollama_gateway.app import create_app
from ollama_gateway.models.manifest import CONFIG_MEDIA_TYPE, MEDIA_MODEL, Layer, Manifest
from ollama_gateway.settings import Settings
from tests.backends.llama_cpp.conftest import TINY, store_model
from tests.support.gguf_models import write_tiny_llama
from tests.support.live import LiveServer

KEY = "names-test-key-0123456789abcdef"
HEADERS = {"X-API-KEY": KEY}
GREEDY = {"temperature": 0, "num_predict": 2}

# Every place a request names a model: (method, path, body with NAME where the name goes).
CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/api/generate", {"model": "NAME", "prompt": "hi"}),  # the seed contract's route
    ("POST", "/api/chat", {"model": "NAME", "messages": [{"role": "user", "content": "hi"}]}),
    ("POST", "/api/embed", {"model": "NAME", "input": "hi"}),
    ("POST", "/api/embeddings", {"model": "NAME", "prompt": "hi"}),
    ("POST", "/api/show", {"model": "NAME"}),
    ("POST", "/api/show", {"name": "NAME"}),
    ("POST", "/api/pull", {"model": "NAME", "stream": False}),
    ("DELETE", "/api/delete", {"model": "NAME"}),
    ("POST", "/api/copy", {"source": "NAME", "destination": "copied"}),
    ("POST", "/api/copy", {"source": TINY, "destination": "NAME"}),
    (
        "POST",
        "/v1/chat/completions",
        {"model": "NAME", "messages": [{"role": "user", "content": "hi"}]},
    ),
    ("POST", "/v1/completions", {"model": "NAME", "prompt": "hi"}),
    ("POST", "/v1/embeddings", {"model": "NAME", "input": "hi"}),
]


def _fill(value: Any, name: str) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, name) for k, v in value.items()}
    return name if value == "NAME" else value


def _unfill(value: Any, name: str) -> Any:
    """The reply with the echoed name taken out, to compare the answers to two names."""
    if isinstance(value, dict):
        return {k: _unfill(v, name) for k, v in value.items()}
    return value.replace(name, "NAME") if isinstance(value, str) else value


def error_message(path: str, reply: httpx.Response) -> str:
    """The message of an error reply, checking that it has its API's shape."""
    body = reply.json()
    if path.startswith("/v1/"):
        assert set(body) == {"error"}
        assert body["error"]["type"] == "invalid_request_error"
        assert body["error"]["code"] is None and body["error"]["param"] is None
        return body["error"]["message"]
    if path == "/api/generate":  # the seed contract: both keys
        assert body["detail"] == body["error"]
        return body["detail"]
    assert set(body) == {"error"}
    return body["error"]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, tiny_path: Path) -> Path:
    """A directory holding a real, loadable model (``present.gguf``) and no ``absent.gguf``."""
    where = tmp_path_factory.mktemp("names")
    shutil.copy(tiny_path, where / "present.gguf")
    (where / "alias1").mkdir()
    return where


@pytest.fixture(scope="module")
def gateway(tiny_path: Path, tmp_path_factory: pytest.TempPathFactory):
    settings = Settings(
        _env_file=None,
        backend="embedded",
        model=str(tiny_path),  # served as TINY
        models_dir=tmp_path_factory.mktemp("store"),
        api_keys=KEY,
        num_ctx=512,
        parallel=2,
        num_threads=1,
        pull_on_start=False,
        max_loaded_models=3,
    )
    app = create_app(settings)
    live = LiveServer(app)
    live.start()
    yield live.url, app
    live.stop()


@pytest.fixture
def opened(files: Path):
    """Files under ``files`` that the process opens or lists while the test runs (audit hooks)."""
    seen: list[str] = []
    active = [True]
    prefix = str(files)

    def hook(event: str, args: tuple) -> None:
        watched = active[0] and event in ("open", "os.listdir", "os.scandir")
        if watched and args and isinstance(args[0], str | bytes | os.PathLike):
            path = os.path.abspath(os.fsdecode(args[0]))
            if path.startswith(prefix):
                seen.append(path)

    sys.addaudithook(hook)  # hooks cannot be removed: this one goes quiet after the test
    yield seen
    active[0] = False


def _pairs(files: Path) -> list[tuple[str, str]]:
    """(a name that is an existing file, the same shape of name for a missing one)."""
    here = os.getcwd()
    return [
        (str(files / "present.gguf"), str(files / "absent.gguf")),
        (
            os.path.relpath(files / "present.gguf", here),
            os.path.relpath(files / "absent.gguf", here),
        ),
        (f"{files}/alias1/../present.gguf", f"{files}/alias1/../absent.gguf"),
        (str(files / "alias1"), str(files / "alias2")),  # a directory, and nothing
        ("/etc/passwd", "/etc/no-such-file-for-this-test"),
    ]


@pytest.mark.parametrize(("method", "path", "body"), CALLS)
def test_a_path_is_an_invalid_name_and_no_existence_oracle(
    gateway, files, opened, method, path, body
):
    url, _ = gateway
    with httpx.Client(base_url=url, headers=HEADERS, timeout=30) as http:
        for present, absent in _pairs(files):
            answers = []
            for name in (present, absent):
                reply = http.request(method, path, json=_fill(body, name))
                assert reply.status_code == 400, (name, reply.text)
                message = error_message(path, reply)
                assert message.startswith("invalid model name"), message
                answers.append(_unfill(reply.json(), name))
            assert answers[0] == answers[1]  # the same answer whether the file exists or not
    assert opened == []  # and no file was opened, listed or looked at to decide


ODD_NAMES = [
    "a\x00b",
    "a\\b",
    "C:\\models\\m.gguf",
    "~/m.gguf",
    "..",
    "../m",
    "m/..",
    "./m",
    "a b",
    "a;b",
    "a\nb",
    "m\u2028x",
    "🦙",
    "-m",
    ".m",
    "a/b/c/d",
    "a:",
    ":latest",
    "ns.x/m",
    "m@sha256:1234",
    "m" * 81,
    "file:///etc/passwd",
]


@pytest.mark.parametrize("name", ODD_NAMES)
def test_odd_names_are_invalid_in_every_api(gateway, files, opened, name):
    url, _ = gateway
    with httpx.Client(base_url=url, headers=HEADERS, timeout=30) as http:
        for method, path, body in CALLS:
            reply = http.request(method, path, json=_fill(body, name))
            assert reply.status_code == 400, (path, reply.text)
            assert error_message(path, reply).startswith("invalid model name")
    assert opened == []


def test_a_huge_name_is_echoed_clipped(gateway):
    url, _ = gateway
    name = "m" * 900_000
    with httpx.Client(base_url=url, headers=HEADERS, timeout=30) as http:
        for method, path, body in CALLS:
            reply = http.request(method, path, json=_fill(body, name))
            assert reply.status_code == 400
            message = error_message(path, reply)
            assert message.startswith("invalid model name")
            assert "m" * 200 + "…" in message
            assert len(reply.content) < 1000  # not 900 KB, let alone twice


def test_two_names_of_one_file_are_one_loaded_model(gateway, tiny_path, tmp_path):
    url, app = gateway
    store = app.state.backend.store
    # the operator's file itself, as a store model whose blob is a hard link to it
    digest = "sha256:" + hashlib.sha256(tiny_path.read_bytes()).hexdigest()
    store.blobs_dir.mkdir(parents=True, exist_ok=True)
    os.link(tiny_path, store.blob_path(digest))
    config = store.write_blob(json.dumps({"model_format": "gguf"}).encode(), CONFIG_MEDIA_TYPE)
    layer = Layer(MEDIA_MODEL, digest, tiny_path.stat().st_size)
    store.write_manifest("linked:latest", Manifest(config=config, layers=[layer]))
    # another model (other weights), under two names: "a", and "b:v2" copied from it
    store_model(store, write_tiny_llama(tmp_path / "other.gguf", seed=11), "a:latest")
    with httpx.Client(base_url=url, headers=HEADERS, timeout=60) as http:
        assert (
            http.post("/api/copy", json={"source": "a", "destination": "b:v2"}).status_code == 200
        )
        names = [
            TINY,
            "linked",
            "a",
            "b:v2",
            "A:latest",
            "library/a",
            "registry.ollama.ai/library/b:v2",
        ]
        for name in names:
            reply = http.post(
                "/api/generate", json={"model": name, "prompt": "hi", "options": GREEDY}
            )
            assert reply.status_code == 200, reply.text
            assert reply.json()["model"] == name  # each name answers under its own name
        running = http.get("/api/ps").json()["models"]
    # two weights files, so two models in memory: not one per name (seven names were used)
    assert sorted(m["name"] for m in running) == ["a:latest", TINY]


def test_names_of_one_blob_keep_their_own_templates(gateway, tmp_path):
    url, app = gateway
    store = app.state.backend.store
    weights = write_tiny_llama(tmp_path / "m.gguf", seed=12)
    store.import_gguf(weights, "plain:latest", template="{{ .Prompt }}")
    store.import_gguf(weights, "framed:latest", template="[[{{ .Prompt }}]]")
    with httpx.Client(base_url=url, headers=HEADERS, timeout=60) as http:
        contexts = {}
        for name in ("plain", "framed", "plain"):
            reply = http.post(
                "/api/generate", json={"model": name, "prompt": "hi", "options": GREEDY}
            )
            assert reply.status_code == 200, reply.text
            contexts.setdefault(name, []).append(reply.json()["context"][: -GREEDY["num_predict"]])
        running = http.get("/api/ps").json()["models"]
    assert contexts["plain"][0] == contexts["plain"][1]
    assert contexts["framed"][0] != contexts["plain"][0]  # each name's template, one model
    blob = store.resolve("plain").model_path
    assert store.resolve("framed").model_path == blob
    assert len([m for m in running if m["name"] in ("plain:latest", "framed:latest")]) == 1


def test_deleting_one_name_keeps_a_model_another_name_uses(gateway, tmp_path):
    url, app = gateway
    store = app.state.backend.store
    weights = write_tiny_llama(tmp_path / "m.gguf", seed=13)
    store.import_gguf(weights, "keep:latest")
    store.import_gguf(weights, "drop:latest")
    with httpx.Client(base_url=url, headers=HEADERS, timeout=60) as http:
        assert http.post("/api/generate", json={"model": "drop", "prompt": ""}).status_code == 200
        assert http.request("DELETE", "/api/delete", json={"model": "drop"}).status_code == 200
        loaded = {m["name"] for m in http.get("/api/ps").json()["models"]}
        assert "drop:latest" in loaded  # "keep" still names those weights: still loaded
        assert http.request("DELETE", "/api/delete", json={"model": "keep"}).status_code == 200
        loaded = {m["name"] for m in http.get("/api/ps").json()["models"]}
        assert "drop:latest" not in loaded  # the weights are gone: so is the model
        missing = http.request("DELETE", "/api/delete", json={"model": "keep"})
    assert missing.status_code == 404
    assert missing.json() == {"error": "model 'keep' not found"}  # Ollama's words
