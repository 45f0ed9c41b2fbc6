"""Pull a model from an Ollama-compatible registry into a :class:`ModelStore`.

Protocol (a Docker registry v2 subset)::

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
import hashlib
import logging
import os
import re
import time
import weakref
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import aiohttp

from ollama_gateway.errors import (
    GatewayError,
    ModelNotFound,
    UpstreamBadResponse,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from ollama_gateway.models import packaged
from ollama_gateway.models.manifest import MANIFEST_MEDIA_TYPE, Layer, Manifest, ManifestError
from ollama_gateway.models.refs import DEFAULT_HOST, ModelRef, parse_ref
from ollama_gateway.models.store import ModelStore

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_PROGRESS_INTERVAL = 0.1  # seconds between two progress events of one blob
_CONTENT_RANGE_RE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
_DONE = object()
_MAX_MANIFEST = 4 << 20


class _Interrupted(Exception):
    """The connection ended before the blob was complete (worth resuming)."""


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


def _progress(layer: Layer, completed: int) -> dict[str, Any]:
    event: dict[str, Any] = {
        "status": f"pulling {layer.digest[7:19]}",
        "digest": layer.digest,
        "total": layer.size,
    }
    if completed:
        event["completed"] = completed
    return event


_CONNECT_TIMEOUT = getattr(aiohttp, "ConnectionTimeoutError", ())


def _transport_error(base: str, exc: BaseException) -> GatewayError:
    if isinstance(exc, _CONNECT_TIMEOUT):
        return UpstreamUnavailable(f"registry {base} is unreachable: the connection timed out")
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return UpstreamTimeout(f"registry {base} did not answer in time")
    return UpstreamUnavailable(f"registry {base} is unreachable: {exc}")


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
        raise _transport_error(base, exc) from None
    try:
        return Manifest.from_bytes(raw), raw
    except ManifestError as exc:
        raise UpstreamBadResponse(f"registry {base} sent a bad manifest: {exc}") from None


class _BlobDownload:
    """Downloads one blob into its ``-partial`` file, resuming, reporting progress."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        layer: Layer,
        partial: Path,
        events: asyncio.Queue[Any],
        timeout: aiohttp.ClientTimeout,
        retries: int,
        base: str,
    ) -> None:
        self.session, self.url, self.layer, self.partial = session, url, layer, partial
        self.events, self.timeout, self.retries, self.base = events, timeout, retries, base
        self._last_emit = 0.0

    def _emit(self, completed: int, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_emit >= _PROGRESS_INTERVAL:
            self._last_emit = now
            self.events.put_nowait(_progress(self.layer, completed))

    def _offset(self) -> int:
        try:
            offset = self.partial.stat().st_size
        except FileNotFoundError:
            return 0
        ollama_parts = list(self.partial.parent.glob(self.partial.name + "-*"))
        if ollama_parts or offset > self.layer.size:
            # Ollama's own unfinished download: a file preallocated to full size, its progress
            # in "-partial-N" part files. It cannot be resumed from its size: start over.
            for part in ollama_parts:
                part.unlink(missing_ok=True)
            self.partial.unlink()
            return 0
        return offset

    async def run(self) -> None:
        offset = self._offset()
        self._emit(offset, force=True)
        attempt = 0
        while offset < self.layer.size:
            try:
                offset = await self._attempt(offset)
            except _Interrupted as exc:
                attempt += 1
                offset = self._offset()
                if attempt > self.retries:
                    raise UpstreamUnavailable(
                        f"download of {self.layer.digest} from {self.base} was interrupted at "
                        f"{offset} of {self.layer.size} bytes ({exc}); pull again to resume"
                    ) from None
                log.info("resuming %s at byte %d (%s)", self.layer.digest, offset, exc)
                await asyncio.sleep(min(0.2 * attempt, 2.0))
        self._emit(self.layer.size, force=True)

    async def _attempt(self, offset: int) -> int:
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        try:
            async with self.session.get(self.url, headers=headers, timeout=self.timeout) as resp:
                if resp.status == 404:
                    raise UpstreamBadResponse(
                        f"registry {self.base} has no blob {self.layer.digest}: the manifest "
                        "points at a missing blob"
                    )
                if resp.status == 416:  # our offset is past what the server has: start over
                    await asyncio.to_thread(self.partial.unlink, True)
                    raise _Interrupted("range not satisfiable")
                if resp.status == 200:
                    offset = 0  # the server ignored Range: restart from the first byte
                elif resp.status == 206:
                    match = _CONTENT_RANGE_RE.match(resp.headers.get("Content-Range", ""))
                    if not match or int(match.group(1)) != offset:
                        offset = 0
                        await asyncio.to_thread(self.partial.unlink, True)
                        raise _Interrupted("the server answered another range")
                else:
                    raise UpstreamBadResponse(
                        f"registry {self.base} answered HTTP {resp.status} for blob "
                        f"{self.layer.digest}"
                    )
                return await self._stream(resp, offset)
        except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError) as exc:
            raise _Interrupted(str(exc) or type(exc).__name__) from None
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError) or offset:
                raise _Interrupted(str(exc) or type(exc).__name__) from None
            raise _transport_error(self.base, exc) from None

    async def _stream(self, resp: aiohttp.ClientResponse, offset: int) -> int:
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        f = await asyncio.to_thread(open, self.partial, "ab" if offset else "wb")
        try:
            async for chunk in resp.content.iter_chunked(_CHUNK):
                offset += len(chunk)
                if offset > self.layer.size:
                    raise UpstreamBadResponse(
                        f"blob {self.layer.digest} from {self.base} is larger than the "
                        f"{self.layer.size} bytes its manifest declares"
                    )
                await asyncio.to_thread(f.write, chunk)
                self._emit(offset)
        finally:
            await asyncio.to_thread(f.close)
        if offset < self.layer.size:
            raise _Interrupted(f"the connection ended at byte {offset}")
        return offset


_LOCKS: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()


def _blob_lock(partial: Path) -> asyncio.Lock:
    """The lock that serialises downloads into ``partial`` within this process."""
    key = str(partial)
    lock = _LOCKS.get(key)
    if lock is None:
        lock = _LOCKS[key] = asyncio.Lock()
    return lock


def _sha256_file(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            sha.update(chunk)
    return "sha256:" + sha.hexdigest()


def _verify_and_promote(store: ModelStore, layer: Layer) -> None:
    partial = store.partial_path(layer.digest)
    actual = _sha256_file(partial)
    if actual != layer.digest:
        partial.unlink()
        raise UpstreamBadResponse(
            f"digest mismatch for blob {layer.digest} (got {actual}): the download was "
            "corrupted and was deleted; pull again"
        )
    os.chmod(partial, 0o644)
    os.replace(partial, store.blob_path(layer.digest))


async def _download_all(downloads: list[_BlobDownload], concurrency: int) -> None:
    semaphore = asyncio.Semaphore(max(1, concurrency))

    async def one(download: _BlobDownload) -> None:
        async with semaphore:
            await download.run()

    if not downloads:
        return
    tasks = [asyncio.ensure_future(one(d)) for d in downloads]
    try:
        done, _pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            failure = task.exception()
            if failure is not None:
                raise failure
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _lock_missing(
    locks: contextlib.AsyncExitStack, store: ModelStore, manifest: Manifest
) -> None:
    """One download of a blob at a time in this process: a second pull of the same model waits
    here for the blobs it lacks, then finds them in place."""
    for digest in sorted({layer.digest for layer in manifest.blobs}):
        if not await asyncio.to_thread(store.has_blob, digest):
            await locks.enter_async_context(_blob_lock(store.partial_path(digest)))


async def _relay(
    downloads: list[_BlobDownload], events: asyncio.Queue[Any], concurrency: int
) -> AsyncGenerator[dict[str, Any], None]:
    """The downloads' progress events as they come, until all are done; a failure raises. Closing
    this stops the downloads."""

    async def supervise() -> None:
        try:
            await _download_all(downloads, concurrency)
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
        downloads: dict[str, _BlobDownload] = {}
        for layer in manifest.blobs:
            if layer.digest in downloads:
                continue
            if await asyncio.to_thread(store.has_blob, layer.digest, layer.size):
                yield _progress(layer, layer.size)
                continue
            downloads[layer.digest] = _BlobDownload(
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
            await asyncio.to_thread(_verify_and_promote, store, download.layer)
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
