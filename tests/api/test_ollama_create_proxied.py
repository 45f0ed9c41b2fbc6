"""``/api/blobs`` and ``/api/create`` passed through to an Ollama upstream (the fake Ollama), with
the official ``ollama`` client: the blob is streamed to Ollama (chunked, as it arrives), the
status lines come back as Ollama sent them, an in-band error is an error."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import ollama as ollama_lib
import pytest

from ollama_gateway.app import create_app
from tests.support.live import serve
from tests.support.secrets import KEY_A

LIMIT = 4 << 20


@pytest.fixture
def proxied(ollama, make_settings) -> Iterator[str]:
    settings = make_settings(
        backend="ollama", ollama_url=ollama.url, api_keys=KEY_A, max_blob_bytes=LIMIT
    )
    with serve(create_app(settings)) as url:
        yield url
    ollama.blobs.clear()


def test_blob_upload_and_create_pass_through(proxied, ollama, tmp_path):
    client = ollama_client(proxied)
    data = bytes(range(256)) * 8000  # 2 MB: many chunks
    path = tmp_path / "model.gguf"
    path.write_bytes(data)
    digest = client.create_blob(path)
    assert ollama.blobs == {digest: len(data)}  # Ollama got every byte and checked the digest
    seen = ollama.last(f"/api/blobs/{digest}")
    assert seen.headers.get("Transfer-Encoding") == "chunked"
    head = httpx.head(f"{proxied}/api/blobs/{digest}", headers={"X-API-KEY": KEY_A})
    assert head.status_code == 200
    count = len(ollama.requests)
    assert client.create_blob(path) == digest  # held already: HEAD, nothing sent again
    assert [r.method for r in ollama.requests[count:]] == ["HEAD"]

    events = list(client.create("made", files={"model.gguf": digest}, stream=True))
    assert [e.status for e in events] == [
        "parsing GGUF",
        f"using existing layer {digest}",
        "writing manifest",
        "success",
    ]
    sent = ollama.last("/api/create").body
    assert sent == {"model": "made", "files": {"model.gguf": digest}, "stream": True}
    assert "made" in ollama.models
    assert client.create("made2", from_="made").status == "success"
    assert ollama.last("/api/create").body["from"] == "made"
    ollama.models.remove("made")
    ollama.models.remove("made2")


def test_pass_through_errors(proxied, ollama):
    client = ollama_client(proxied)
    zeros = "sha256:" + "0" * 64
    wrong = httpx.post(f"{proxied}/api/blobs/{zeros}", content=b"abc", headers=_KEY)
    assert wrong.status_code == 400 and "digest mismatch" in wrong.json()["error"]
    big = b"x" * (LIMIT + 1)
    digest = "sha256:" + hashlib.sha256(big).hexdigest()
    over = httpx.post(f"{proxied}/api/blobs/{digest}", content=big, headers=_KEY)
    assert over.status_code == 413 and digest not in ollama.blobs
    with pytest.raises(ollama_error()) as caught:
        client.create("x", files={"m.gguf": zeros})
    assert caught.value.status_code == 400 and "blob not found" in caught.value.error
    with pytest.raises(ollama_error()) as caught:
        list(client.create("x", from_="llama2:latest", template="{{ broken", stream=True))
    assert "template error" in caught.value.error
    count = len(ollama.requests)
    with pytest.raises(ollama_error()) as caught:  # checked here before Ollama sees it
        client.create("x", files={"../m.gguf": zeros})
    assert caught.value.status_code == 400 and "file path must be relative" in caught.value.error
    assert len(ollama.requests) == count


_KEY = {"X-API-KEY": KEY_A}


def ollama_client(url: str) -> ollama_lib.Client:
    return ollama_lib.Client(host=url, headers=_KEY, timeout=30)


def ollama_error() -> type[Exception]:
    return ollama_lib.ResponseError
