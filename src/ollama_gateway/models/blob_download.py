"""Downloading the blobs of a pull: each into its ``-partial`` file, resumed with ``Range`` after
an interruption, reported as Ollama's progress events, then checked against its digest and moved
into place. One download of a blob at a time in this process (:func:`blob_lock`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
import weakref
from pathlib import Path
from typing import Any

import aiohttp

from ollama_gateway.errors import (
    GatewayError,
    UpstreamBadResponse,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from ollama_gateway.models.manifest import Layer, sha256_file
from ollama_gateway.models.store import ModelStore

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_PROGRESS_INTERVAL = 0.1  # seconds between two progress events of one blob
_CONTENT_RANGE_RE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


class _Interrupted(Exception):
    """The connection ended before the blob was complete (worth resuming)."""


def progress(layer: Layer, completed: int) -> dict[str, Any]:
    event: dict[str, Any] = {
        "status": f"pulling {layer.digest[7:19]}",
        "digest": layer.digest,
        "total": layer.size,
    }
    if completed:
        event["completed"] = completed
    return event


_CONNECT_TIMEOUT = getattr(aiohttp, "ConnectionTimeoutError", ())


def transport_error(base: str, exc: BaseException) -> GatewayError:
    if isinstance(exc, _CONNECT_TIMEOUT):
        return UpstreamUnavailable(f"registry {base} is unreachable: the connection timed out")
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return UpstreamTimeout(f"registry {base} did not answer in time")
    return UpstreamUnavailable(f"registry {base} is unreachable: {exc}")


class BlobDownload:
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
            self.events.put_nowait(progress(self.layer, completed))

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
            raise transport_error(self.base, exc) from None

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


def blob_lock(partial: Path) -> asyncio.Lock:
    """The lock that serialises downloads into ``partial`` within this process."""
    key = str(partial)
    lock = _LOCKS.get(key)
    if lock is None:
        lock = _LOCKS[key] = asyncio.Lock()
    return lock


def verify_and_promote(store: ModelStore, layer: Layer) -> None:
    partial = store.partial_path(layer.digest)
    actual = sha256_file(partial)
    if actual != layer.digest:
        partial.unlink()
        raise UpstreamBadResponse(
            f"digest mismatch for blob {layer.digest} (got {actual}): the download was "
            "corrupted and was deleted; pull again"
        )
    os.chmod(partial, 0o644)
    os.replace(partial, store.blob_path(layer.digest))


async def download_all(downloads: list[BlobDownload], concurrency: int) -> None:
    semaphore = asyncio.Semaphore(max(1, concurrency))

    async def one(download: BlobDownload) -> None:
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
