"""Pull a model from an Ollama-compatible registry into a :class:`ModelStore`.

Protocol (a Docker registry v2 subset; the blob downloads are ``blob_download.py``)::

    GET {registry}/v2/{namespace}/{name}/manifests/{tag}   Accept: manifest v2 media type
    GET {registry}/v2/{namespace}/{name}/blobs/{digest}    redirects followed, Range honoured

Progress is reported exactly as Ollama's ``/api/pull`` reports it::

    {"status": "pulling manifest"}
    {"status": "pulling 8934d96d3f08", "digest": "sha256:8934...", "total": N}
    {"status": "pulling 8934d96d3f08", "digest": "sha256:8934...", "total": N, "completed": M}
    {"status": "verifying sha256 digest"}
    {"status": "writing manifest"}
    {"status": "success"}

(``completed`` is left out while it is 0, as Ollama does.) Downloads go to
``blobs/sha256-<hex>-partial`` and resume from there with a ``Range`` header; a blob is moved into
place (``os.replace``) only once its SHA-256 matched, and the manifest is written last, so a
failed pull never leaves a model that looks complete.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import Any

import aiohttp

from ollama_gateway.errors import (
    ModelNotFound,
    UpstreamBadResponse,
)
from ollama_gateway.models import packaged
from ollama_gateway.models.blob_download import (
    BlobDownload,
    blob_lock,
    download_all,
    progress,
    transport_error,
    verify_and_promote,
)
from ollama_gateway.models.manifest import MANIFEST_MEDIA_TYPE, Manifest, ManifestError
from ollama_gateway.models.refs import DEFAULT_HOST, ModelRef, parse_ref
from ollama_gateway.models.store import ModelStore

_DONE = object()
_MAX_MANIFEST = 4 << 20


def registry_base(ref: ModelRef, registry_url: str, insecure: bool) -> str:
    """The registry to ask: the reference's own host when it names one, else ``registry_url``.

    >>> registry_base(parse_ref("qwen2"), "https://registry.ollama.ai/", False)
    'https://registry.ollama.ai'
    >>> registry_base(parse_ref("localhost:5000/ns/m"), "https://registry.ollama.ai", True)
    'http://localhost:5000'
    """
    if ref.host.lower() == DEFAULT_HOST:
        return registry_url.rstrip("/")
    return f"{'http' if insecure else 'https'}://{ref.host}"


async def _fetch_manifest(
    session: aiohttp.ClientSession, base: str, ref: ModelRef, timeout: aiohttp.ClientTimeout
) -> tuple[Manifest, bytes]:
    url = f"{base}/v2/{ref.namespace}/{ref.name}/manifests/{ref.digest or ref.tag}"
    try:
        async with session.get(
            url, headers={"Accept": MANIFEST_MEDIA_TYPE}, timeout=timeout
        ) as resp:
            if resp.status == 404:
                raise ModelNotFound(
                    ref.display,
                    f'pull model manifest: model "{ref.display}" not found in registry {base} '
                    f'(no tag "{ref.tag}" for {ref.repository})',
                )
            if resp.status in (401, 403):
                raise UpstreamBadResponse(
                    f"registry {base} refused the manifest of {ref.display} (HTTP {resp.status})"
                )
            if resp.status != 200:
                raise UpstreamBadResponse(
                    f"registry {base} answered HTTP {resp.status} for the manifest of {ref.display}"
                )
            body = bytearray()
            async for chunk in resp.content.iter_chunked(1 << 16):
                body += chunk
                if len(body) > _MAX_MANIFEST:
                    raise UpstreamBadResponse(f"registry {base} sent a manifest over 4 MiB")
            raw = bytes(body)
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        raise transport_error(base, exc) from None
    try:
        return Manifest.from_bytes(raw), raw
    except ManifestError as exc:
        raise UpstreamBadResponse(f"registry {base} sent a bad manifest: {exc}") from None


async def _lock_missing(
    locks: contextlib.AsyncExitStack, store: ModelStore, manifest: Manifest
) -> None:
    """One download of a blob at a time in this process: a second pull of the same model waits
    here for the blobs it lacks, then finds them in place."""
    for digest in sorted({layer.digest for layer in manifest.blobs}):
        if not await asyncio.to_thread(store.has_blob, digest):
            await locks.enter_async_context(blob_lock(store.partial_path(digest)))


async def _relay(
    downloads: list[BlobDownload], events: asyncio.Queue[Any], concurrency: int
) -> AsyncGenerator[dict[str, Any], None]:
    """The downloads' progress events as they come, until all are done; a failure raises. Closing
    this stops the downloads."""

    async def supervise() -> None:
        try:
            await download_all(downloads, concurrency)
        except BaseException as exc:
            events.put_nowait(exc)
            raise
        events.put_nowait(_DONE)

    supervisor = asyncio.ensure_future(supervise())
    try:
        while True:
            item = await events.get()
            if item is _DONE:
                break
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        if not supervisor.done():
            supervisor.cancel()
        with contextlib.suppress(BaseException):
            await supervisor


async def _pull_from_registry(
    session: aiohttp.ClientSession,
    parsed: ModelRef,
    store: ModelStore,
    base: str,
    timeout: aiohttp.ClientTimeout,
    retries: int,
    concurrency: int,
) -> AsyncGenerator[dict[str, Any], None]:
    """The manifest, the blobs the store lacks (``concurrency`` at a time), then the manifest
    written: :func:`pull_model`'s events after the registry was chosen."""
    yield {"status": "pulling manifest"}
    manifest, raw = await _fetch_manifest(session, base, parsed, timeout)
    repo_url = f"{base}/v2/{parsed.namespace}/{parsed.name}/blobs"
    events: asyncio.Queue[Any] = asyncio.Queue()
    async with contextlib.AsyncExitStack() as locks:
        await _lock_missing(locks, store, manifest)
        downloads: dict[str, BlobDownload] = {}
        for layer in manifest.blobs:
            if layer.digest in downloads:
                continue
            if await asyncio.to_thread(store.has_blob, layer.digest, layer.size):
                yield progress(layer, layer.size)
                continue
            downloads[layer.digest] = BlobDownload(
                session,
                f"{repo_url}/{layer.digest}",
                layer,
                store.partial_path(layer.digest),
                events,
                timeout,
                retries,
                base,
            )
        relay = _relay(list(downloads.values()), events, concurrency)
        async with contextlib.aclosing(relay):
            async for event in relay:
                yield event
        yield {"status": "verifying sha256 digest"}
        for download in downloads.values():
            await asyncio.to_thread(verify_and_promote, store, download.layer)
    yield {"status": "writing manifest"}
    await asyncio.to_thread(store.write_manifest, parsed, manifest, raw)
    yield {"status": "success"}


async def pull_model(
    ref: str,
    store: ModelStore,
    registry_url: str = "https://registry.ollama.ai",
    *,
    insecure: bool = False,
    session: aiohttp.ClientSession | None = None,
    concurrency: int = 4,
    connect_timeout: float = 10.0,
    read_timeout: float = 60.0,
    retries: int = 2,
    resolver: Any = None,
) -> AsyncGenerator[dict[str, Any], None]:
    """Pull ``ref`` into ``store``, yielding Ollama's progress events; ends with ``success``.

    Raises ``ModelNotFound`` (no such tag), ``UpstreamUnavailable`` (registry unreachable or a
    download interrupted more than ``retries`` times; pull again to resume),
    ``UpstreamTimeout``, ``UpstreamBadResponse`` (a missing or corrupt blob, a bad manifest) and
    ``BadRequest`` (not a model name). ``resolver``: an aiohttp resolver for the downloads
    (:class:`~ollama_gateway.models.registry_guard.GuardedResolver` refuses internal addresses).

    A model shipped in an installed Python package (:mod:`ollama_gateway.models.packaged`) is
    imported from there instead: no registry is asked, so it works offline.
    """
    parsed = parse_ref(ref)  # a path is no model name: 400 before anything else
    shipped = packaged.find(ref)
    if shipped is not None and await asyncio.to_thread(packaged.locate, shipped) is not None:
        yield packaged.first_event(shipped)
        resolved = await asyncio.to_thread(packaged.import_packaged, store, shipped)
        for done in packaged.done_events(resolved):
            yield done
        return
    base = registry_base(parsed, registry_url, insecure)
    timeout = aiohttp.ClientTimeout(
        total=None, connect=connect_timeout, sock_connect=connect_timeout, sock_read=read_timeout
    )
    own_session = session is None
    if session is None:
        connector = aiohttp.TCPConnector(resolver=resolver) if resolver is not None else None
        session = aiohttp.ClientSession(timeout=timeout, connector=connector)
    try:
        registry = _pull_from_registry(session, parsed, store, base, timeout, retries, concurrency)
        async with contextlib.aclosing(registry):
            async for event in registry:
                yield event
    finally:
        if own_session:
            await session.close()
