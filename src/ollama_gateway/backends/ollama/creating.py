"""``/api/create`` and ``/api/blobs`` passed through to the Ollama upstream.

The create request goes as Ollama's body and its status lines come back as they are (an
in-band ``{"error"}`` line becomes the error it names). A blob is first asked for with ``HEAD``
(Ollama answers 200 when it holds it: nothing is sent), else streamed to Ollama as it arrives,
counted against ``max_blob_bytes``; Ollama checks the digest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from ollama_gateway.backends.upstream.http import ConnectFailed, ReadTimeout, UpstreamHTTPError
from ollama_gateway.errors import (
    BadRequest,
    GatewayError,
    PayloadTooLarge,
    UpstreamBadResponse,
    UpstreamTimeout,
)
from ollama_gateway.models.create import CreateSpec

if TYPE_CHECKING:
    from ollama_gateway.backends.ollama.backend import OllamaBackend


def create_body(spec: CreateSpec) -> dict[str, Any]:
    """Ollama's ``api.CreateRequest`` for ``spec`` (only the fields that are set)."""
    body: dict[str, Any] = {"model": spec.model, "stream": True}
    fields = {
        "from": spec.from_,
        "files": spec.files,
        "template": spec.template,
        "system": spec.system,
        "parameters": spec.parameters,
        "messages": spec.messages,
        "license": spec.license,
        "quantize": spec.quantize,
    }
    body.update({key: value for key, value in fields.items() if value is not None})
    return body


async def create(backend: OllamaBackend, spec: CreateSpec) -> AsyncIterator[dict[str, Any]]:
    async for event in backend._lines("api/create", create_body(spec), spec.from_ or spec.model):
        if "error" in event:
            message = str(event.get("error") or "model creation failed")
            raise BadRequest(message) if event.get("status") == 400 else GatewayError(message)
        yield event


async def has_blob(backend: OllamaBackend, digest: str) -> bool:
    """Whether Ollama holds the blob: its ``HEAD`` reply's status (no body is read)."""
    try:
        resp = await backend.client.request(
            "HEAD", f"api/blobs/{digest}", read_timeout=30, total_timeout=30
        )
    except ConnectFailed as exc:
        raise backend.upstream.unreachable(exc) from None
    except UpstreamHTTPError as exc:
        raise UpstreamBadResponse(f"Ollama did not answer HEAD /api/blobs: {exc}") from None
    resp.close()  # a HEAD reply has no body to wait for
    if resp.status in (200, 404):
        return resp.status == 200
    if resp.status == 400:
        raise BadRequest(f"Ollama refused the digest {digest}")
    raise UpstreamBadResponse(f"Ollama answered {resp.status} to HEAD /api/blobs")


async def _bounded(body: AsyncIterator[bytes], max_bytes: int) -> AsyncIterator[bytes]:
    seen = 0
    async for piece in body:
        seen += len(piece)
        if seen > max_bytes:
            raise PayloadTooLarge(f"the blob is larger than {max_bytes} bytes")
        yield piece


async def upload_blob(
    backend: OllamaBackend, digest: str, body: AsyncIterator[bytes], max_bytes: int
) -> bool:
    if await has_blob(backend, digest):
        return False
    timeout = backend.upstream.total_timeout
    try:
        resp = await backend.client.send_stream(
            "POST",
            f"api/blobs/{digest}",
            _bounded(body, max_bytes),
            content_type="application/octet-stream",
            read_timeout=timeout,
            total_timeout=timeout,
        )
    except ConnectFailed as exc:
        raise backend.upstream.unreachable(exc) from None
    except ReadTimeout:
        raise UpstreamTimeout("Ollama did not take the blob in time") from None
    except UpstreamHTTPError as exc:
        raise UpstreamBadResponse(f"Ollama closed the connection: {exc}") from None
    try:
        await backend.upstream.raise_for_status(resp, None)
        async with resp:
            await resp.read()
    finally:
        resp.close()
    return resp.status == 201
