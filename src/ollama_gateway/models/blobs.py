"""Blobs uploaded by clients (``POST /api/blobs/sha256:<hex>``), written into the store.

The body is written to a temporary file in the blobs directory while it is hashed; once it has
all arrived its SHA-256 must be the digest the client named, and only then is it moved into place
(``os.replace``: readers see the whole blob or none). A wrong digest, or a body over the size
limit, leaves nothing behind. The writes and the hashing run in a worker thread, a megabyte at a
time, never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import tempfile
import threading
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from ollama_gateway.errors import BadRequest, PayloadTooLarge

if TYPE_CHECKING:
    from ollama_gateway.models.store import ModelStore

_FLUSH = 1 << 20  # bytes gathered before a write in the worker thread


class BlobWriter:
    """One upload in progress: ``write`` pieces (blocking), then ``finish`` or ``abort``."""

    def __init__(self, store: ModelStore, digest: str, max_bytes: int) -> None:
        self.final = store.blob_path(digest)  # BadRequest on a malformed digest
        self.digest = digest
        self.max_bytes = max_bytes
        self.size = 0
        self._sha = hashlib.sha256()
        # A cancelled upload aborts while a write may still run in its thread: one at a time.
        self._lock = threading.Lock()
        self._closed = False
        store.blobs_dir.mkdir(parents=True, exist_ok=True)
        fd, self._tmp = tempfile.mkstemp(dir=store.blobs_dir, prefix=".upload-", suffix=".tmp")
        self._file = os.fdopen(fd, "wb")

    def write(self, data: bytes) -> None:
        with self._lock:
            if self._closed:
                return
            self.size += len(data)
            if self.size > self.max_bytes:
                raise PayloadTooLarge(f"the blob is larger than {self.max_bytes} bytes")
            self._sha.update(data)
            self._file.write(data)

    def finish(self) -> None:
        """Check the digest and move the blob into place; BadRequest when it differs."""
        with self._lock:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            got = "sha256:" + self._sha.hexdigest()
            if got != self.digest:
                raise BadRequest(f'digest mismatch, expected "{self.digest}", got "{got}"')
            os.chmod(self._tmp, 0o644)
            os.replace(self._tmp, self.final)
            self._closed = True

    def abort(self) -> None:
        with self._lock:
            self._closed = True
            with contextlib.suppress(OSError):
                self._file.close()
            with contextlib.suppress(OSError):
                os.unlink(self._tmp)


async def receive_blob(
    store: ModelStore, digest: str, body: AsyncIterator[bytes], max_bytes: int
) -> bool:
    """Store the uploaded ``body`` as blob ``digest``; False when it was already there (the body
    is then not read, as Ollama does). Raises BadRequest (bad or mismatched digest) or
    PayloadTooLarge."""
    path = store.blob_path(digest)
    if await asyncio.to_thread(path.is_file):
        return False
    writer = await asyncio.to_thread(BlobWriter, store, digest, max_bytes)
    try:
        pending: list[bytes] = []
        gathered = 0
        async for piece in body:
            if not piece:
                continue
            pending.append(piece)
            gathered += len(piece)
            if gathered >= _FLUSH:
                await asyncio.to_thread(writer.write, b"".join(pending))
                pending, gathered = [], 0
        if pending:
            await asyncio.to_thread(writer.write, b"".join(pending))
        await asyncio.to_thread(writer.finish)
    except BaseException:
        await asyncio.shield(asyncio.to_thread(writer.abort))
        raise
    return True
