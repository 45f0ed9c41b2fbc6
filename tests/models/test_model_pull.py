"""Pulling from a real registry server on 127.0.0.1: progress, resume, verification, atomicity."""

from __future__ import annotations

import asyncio
import json
import random
import socket
from pathlib import Path

import pytest

from ollama_gateway.errors import (
    BadRequest,
    ModelNotFound,
    UpstreamBadResponse,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from ollama_gateway.models.pull import pull_model
from ollama_gateway.models.store import ModelStore
from tests.models.conftest import sha
from tests.support.registry_server import RegistryServer

MODEL = random.Random(0).randbytes(300_000)
TEMPLATE = "{{ .System }}{{ .Prompt }}"
ADAPTER = "application/vnd.ollama.image.adapter"
PARAMS = {"stop": ["<|end|>"], "temperature": 0.6}


@pytest.fixture
async def registry():
    async with RegistryServer() as server:
        server.add_model(
            "library",
            "tiny",
            "latest",
            model=MODEL,
            template=TEMPLATE,
            params=PARAMS,
            license="MIT",
        )
        yield server


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    return ModelStore(tmp_path / "models")


async def collect(agen, stop_after: int | None = None):
    """(events, exception) of a pull; the exception is None on success."""
    events: list[dict] = []
    try:
        async with asyncio.timeout(20) if hasattr(asyncio, "timeout") else _nothing():
            async for event in agen:
                events.append(event)
                if stop_after is not None and len(events) >= stop_after:
                    await agen.aclose()
                    break
    except Exception as exc:
        return events, exc
    return events, None


class _nothing:
    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return False


def manifest_of(registry: RegistryServer, name: str = "tiny", tag: str = "latest") -> dict:
    return json.loads(registry.manifests[("library", name, tag)])


def manifest_files(store: ModelStore) -> list[Path]:
    return [p for p in store.manifests_dir.rglob("*") if p.is_file()]


async def test_pull_reports_ollama_progress_and_stores_the_model(registry, store):
    events, exc = await collect(pull_model("tiny", store, registry.url))
    assert exc is None
    manifest = manifest_of(registry)
    blobs = {b["digest"]: b["size"] for b in [manifest["config"], *manifest["layers"]]}

    assert events[0] == {"status": "pulling manifest"}
    assert [e["status"] for e in events[-3:]] == [
        "verifying sha256 digest",
        "writing manifest",
        "success",
    ]
    progress = events[1:-3]
    assert progress and {e["digest"] for e in progress} == set(blobs)
    for event in progress:
        assert event["status"] == f"pulling {event['digest'][7:19]}"
        assert event["total"] == blobs[event["digest"]]
        assert set(event) <= {"status", "digest", "total", "completed"}
    for digest, size in blobs.items():
        mine = [e.get("completed", 0) for e in progress if e["digest"] == digest]
        assert mine == sorted(mine)  # never goes backwards
        assert mine[0] == 0 and "completed" not in next(
            e for e in progress if e["digest"] == digest
        )
        assert mine[-1] == size

    resolved = store.resolve("tiny")
    assert resolved.name == "tiny:latest"
    assert resolved.model_path.read_bytes() == MODEL
    assert resolved.template == TEMPLATE
    assert resolved.params == PARAMS
    assert resolved.license == "MIT"
    # the manifest is kept byte for byte, so its digest is the registry's
    assert resolved.manifest_digest == sha(registry.manifests[("library", "tiny", "latest")])
    path = store.manifests_dir / "registry.ollama.ai" / "library" / "tiny" / "latest"
    assert path.read_bytes() == registry.manifests[("library", "tiny", "latest")]
    assert not list(store.blobs_dir.glob("*partial*"))
    assert registry.requests[0].headers["Accept"] == (
        "application/vnd.docker.distribution.manifest.v2+json"
    )


async def test_a_host_in_the_reference_is_the_registry(registry, store):
    ref = f"{registry.host}/library/tiny:latest"
    events, exc = await collect(pull_model(ref, store, "http://127.0.0.1:9/unused", insecure=True))
    assert exc is None and events[-1] == {"status": "success"}
    resolved = store.resolve(ref)
    assert resolved.name == ref
    assert (store.manifests_dir / registry.host / "library" / "tiny" / "latest").is_file()


async def test_an_interrupted_download_resumes_with_range_on_the_next_pull(registry, store):
    digest = manifest_of(registry)["layers"][0]["digest"]
    registry.cut_after[digest] = 100_000
    events, exc = await collect(pull_model("tiny", store, registry.url, retries=0))
    assert isinstance(exc, UpstreamUnavailable)
    assert "interrupted" in exc.message and "pull again to resume" in exc.message
    partial = store.partial_path(digest)
    kept = partial.stat().st_size
    assert 0 < kept <= 100_000
    assert not store.blob_path(digest).exists()
    assert manifest_files(store) == []

    events, exc = await collect(pull_model("tiny", store, registry.url, retries=0))
    assert exc is None and events[-1] == {"status": "success"}
    ranges = [r.headers.get("Range") for r in registry.blob_requests(digest)]
    assert ranges == [None, f"bytes={kept}-"]
    first = next(e for e in events if e.get("digest") == digest)
    assert first["completed"] == kept  # progress starts where the partial file ends
    assert store.resolve("tiny").model_path.read_bytes() == MODEL
    assert not partial.exists()


async def test_a_dropped_connection_is_retried_within_one_pull(registry, store):
    digest = manifest_of(registry)["layers"][0]["digest"]
    registry.cut_after[digest] = 70_000
    _, exc = await collect(pull_model("tiny", store, registry.url))
    assert exc is None
    ranges = [r.headers.get("Range") for r in registry.blob_requests(digest)]
    assert ranges[0] is None and ranges[1].startswith("bytes=") and len(ranges) == 2
    assert store.resolve("tiny").model_path.read_bytes() == MODEL


async def test_a_server_ignoring_range_makes_the_download_restart(registry, store):
    digest = manifest_of(registry)["layers"][0]["digest"]
    registry.cut_after[digest] = 100_000
    registry.ignore_range = True
    _, exc = await collect(pull_model("tiny", store, registry.url, retries=0))
    assert isinstance(exc, UpstreamUnavailable)
    _, exc = await collect(pull_model("tiny", store, registry.url, retries=0))
    assert exc is None
    assert registry.blob_requests(digest)[-1].headers.get("Range", "").startswith("bytes=")
    assert store.resolve("tiny").model_path.read_bytes() == MODEL  # not the tail appended twice


async def test_a_corrupted_blob_is_rejected_and_never_stored(registry, store):
    digest = manifest_of(registry)["layers"][0]["digest"]
    registry.corrupt.add(digest)
    events, exc = await collect(pull_model("tiny", store, registry.url))
    assert isinstance(exc, UpstreamBadResponse)
    assert "digest mismatch" in exc.message and digest in exc.message
    assert events[-1] == {"status": "verifying sha256 digest"}
    assert not store.blob_path(digest).exists()
    assert not store.partial_path(digest).exists()
    assert manifest_files(store) == []
    with pytest.raises(ModelNotFound):
        store.resolve("tiny")


async def test_a_missing_tag_is_model_not_found(registry, store):
    events, exc = await collect(pull_model("tiny:nope", store, registry.url))
    assert isinstance(exc, ModelNotFound)
    assert "not found" in exc.message and 'no tag "nope"' in exc.message
    assert events == [{"status": "pulling manifest"}]
    assert manifest_files(store) == []


async def test_a_manifest_naming_a_missing_blob_fails_without_a_manifest(registry, store):
    digest = manifest_of(registry)["layers"][1]["digest"]  # the template
    registry.missing_blobs.add(digest)
    _, exc = await collect(pull_model("tiny", store, registry.url))
    assert isinstance(exc, UpstreamBadResponse)
    assert "missing blob" in exc.message and digest in exc.message
    assert manifest_files(store) == []


async def test_an_unreachable_registry_is_upstream_unavailable(store):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    events, exc = await collect(pull_model("tiny", store, f"http://127.0.0.1:{port}"))
    assert isinstance(exc, UpstreamUnavailable)
    assert "unreachable" in exc.message
    assert events == [{"status": "pulling manifest"}]


async def test_a_slow_registry_times_out(registry, store):
    registry.delay = 1.0
    _, exc = await collect(pull_model("tiny", store, registry.url, read_timeout=0.2))
    assert isinstance(exc, UpstreamTimeout)


async def test_blobs_download_concurrently(store):
    async with RegistryServer(chunk_size=16 * 1024, chunk_delay=0.005) as registry:
        layers = [(ADAPTER, bytes([i]) * 128 * 1024) for i in range(4)]
        registry.add_model("library", "wide", "latest", model=MODEL, extra_layers=layers)
        _, exc = await collect(pull_model("wide", store, registry.url, concurrency=4))
        assert exc is None
        assert registry.peak_concurrent_blobs >= 3
        assert len(store.resolve("wide").adapters) == 4


async def test_concurrency_one_downloads_one_blob_at_a_time(store):
    async with RegistryServer(chunk_size=16 * 1024, chunk_delay=0.002) as registry:
        layers = [(ADAPTER, bytes([i]) * 64 * 1024) for i in range(3)]
        registry.add_model("library", "wide", "latest", model=MODEL, extra_layers=layers)
        _, exc = await collect(pull_model("wide", store, registry.url, concurrency=1))
        assert exc is None
        assert registry.peak_concurrent_blobs == 1


async def test_blobs_already_present_are_not_downloaded_again(registry, store):
    _, exc = await collect(pull_model("tiny", store, registry.url))
    assert exc is None
    before = len(registry.blob_requests())
    events, exc = await collect(pull_model("tiny", store, registry.url))
    assert exc is None
    assert len(registry.blob_requests()) == before
    progress = [e for e in events if "digest" in e]
    assert progress and all(e["completed"] == e["total"] for e in progress)


async def test_blob_redirects_are_followed(registry, store):
    registry.redirect_blobs = True
    _, exc = await collect(pull_model("tiny", store, registry.url))
    assert exc is None
    assert any(r.path.startswith("/cdn/") for r in registry.requests)
    assert store.resolve("tiny").model_path.read_bytes() == MODEL


async def test_a_pull_stopped_midway_leaves_no_model(store):
    async with RegistryServer(chunk_size=8 * 1024, chunk_delay=0.01) as registry:
        registry.add_model("library", "tiny", "latest", model=MODEL)
        digest = manifest_of(registry)["layers"][0]["digest"]
        agen = pull_model("tiny", store, registry.url)
        async for event in agen:
            if event.get("digest") == digest and event.get("completed", 0) > 0:
                break
        await agen.aclose()
        assert manifest_files(store) == []
        assert not store.blob_path(digest).exists()
        # what was downloaded is kept for the next pull, which finishes the job
        assert store.partial_path(digest).exists()
        registry.chunk_delay = 0
        _, exc = await collect(pull_model("tiny", store, registry.url))
        assert exc is None
        assert store.resolve("tiny").model_path.read_bytes() == MODEL


async def test_a_path_or_a_bad_name_cannot_be_pulled(store):
    with pytest.raises(BadRequest, match="invalid model name"):
        await anext(pull_model("./model.gguf", store))
    with pytest.raises(BadRequest, match="invalid model name"):
        await anext(pull_model("bad name", store))


async def test_two_pulls_of_one_model_at_once_download_each_blob_once(store):
    async with RegistryServer(chunk_size=16 * 1024, chunk_delay=0.002) as registry:
        registry.add_model("library", "tiny", "latest", model=MODEL, template=TEMPLATE)
        (ev1, exc1), (ev2, exc2) = await asyncio.gather(
            collect(pull_model("tiny", store, registry.url)),
            collect(pull_model("tiny:latest", store, registry.url)),
        )
        assert exc1 is None and exc2 is None
        assert ev1[-1] == ev2[-1] == {"status": "success"}
        manifest = manifest_of(registry)
        for blob in [manifest["config"], *manifest["layers"]]:
            assert len(registry.blob_requests(blob["digest"])) == 1
        assert store.resolve("tiny").model_path.read_bytes() == MODEL


async def test_a_layer_listed_twice_is_downloaded_once(store):
    async with RegistryServer() as registry:
        registry.add_model(
            "library", "dup", "latest", model=MODEL, extra_layers=[(ADAPTER, b"x"), (ADAPTER, b"x")]
        )
        _, exc = await collect(pull_model("dup", store, registry.url))
        assert exc is None
        assert len(registry.blob_requests(sha(b"x"))) == 1
        assert len(store.resolve("dup").adapters) == 2


async def test_an_unfinished_ollama_download_is_started_over(registry, store):
    digest = manifest_of(registry)["layers"][0]["digest"]
    partial = store.partial_path(digest)
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"\0" * len(MODEL))  # Ollama preallocates the whole file...
    part = partial.with_name(partial.name + "-0")
    part.write_text('{"N":0,"Offset":0,"Size":300000,"Completed":1024}')  # ...and tracks parts
    _, exc = await collect(pull_model("tiny", store, registry.url))
    assert exc is None
    assert [r.headers.get("Range") for r in registry.blob_requests(digest)] == [None]
    assert store.resolve("tiny").model_path.read_bytes() == MODEL
    assert not part.exists() and not partial.exists()


def test_registry_base_doctests():
    import doctest

    from ollama_gateway.models import pull

    result = doctest.testmod(pull)
    assert result.attempted >= 2 and result.failed == 0


async def test_a_huge_or_garbled_manifest_is_refused(registry, store):
    registry.manifests[("library", "huge", "latest")] = b"{" + b" " * (5 << 20) + b"}"
    registry.manifests[("library", "garbled", "latest")] = b'{"schemaVersion": 2, "layers": 1}'
    _, exc = await collect(pull_model("huge", store, registry.url))
    assert isinstance(exc, UpstreamBadResponse) and "over 4 MiB" in exc.message
    _, exc = await collect(pull_model("garbled", store, registry.url))
    assert isinstance(exc, UpstreamBadResponse) and "bad manifest" in exc.message
    assert manifest_files(store) == []
