"""A real Ollama-compatible registry on 127.0.0.1 (an ephemeral port) for pull tests.

It serves ``GET /v2/<namespace>/<name>/manifests/<tag>`` and ``GET /v2/<namespace>/<name>/blobs/
<digest>`` from models that tests add, honours ``Range`` and records every request. Faults tests
switch on: cut a blob off midway (the connection drops), ignore ``Range``, serve corrupted bytes,
404 a blob the manifest names, 404 a tag, redirect blobs to another path (as the real registry
redirects to a CDN) and slow responses.

    async with RegistryServer() as registry:
        registry.add_model("library", "tiny", "latest", model=b"...", template="{{ .Prompt }}")
        url = registry.url
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_MEDIA_TYPE = "application/vnd.docker.container.image.v1+json"
_RANGE_RE = re.compile(r"^bytes=(\d+)-(\d*)$")


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class RegistryServer:
    """The registry; configure the fault fields before (or between) pulls."""

    chunk_size: int = 64 * 1024
    chunk_delay: float = 0.0  # seconds between chunks of a blob (slow downloads)
    delay: float = 0.0  # seconds before answering anything (a slow registry)
    ignore_range: bool = False  # answer 200 with the whole blob even when Range was sent
    redirect_blobs: bool = False  # 307 blobs to /cdn/<digest>, like the real registry
    cut_after: dict[str, int] = field(default_factory=dict)  # digest -> bytes sent, then drop
    cut_times: int = 1  # how many downloads of a blob are cut before it is served whole
    corrupt: set[str] = field(default_factory=set)  # digests served with one byte flipped
    missing_blobs: set[str] = field(default_factory=set)  # digests answered with 404

    manifests: dict[tuple[str, str, str], bytes] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    peak_concurrent_blobs: int = 0
    _in_flight: int = 0
    _cuts: dict[str, int] = field(default_factory=dict)
    _runner: web.AppRunner | None = None
    url: str = ""
    host: str = ""

    # --- content ---------------------------------------------------------------------------
    def add_blob(self, data: bytes) -> str:
        digest = digest_of(data)
        self.blobs[digest] = data
        return digest

    def add_model(
        self,
        namespace: str,
        name: str,
        tag: str,
        *,
        model: bytes,
        template: str | None = None,
        system: str | None = None,
        params: dict[str, Any] | None = None,
        license: str | None = None,
        config: dict[str, Any] | None = None,
        extra_layers: list[tuple[str, bytes]] | None = None,
    ) -> dict[str, Any]:
        """Add a model; returns its manifest (as a dict)."""
        layers = [("application/vnd.ollama.image.model", model)]
        if template is not None:
            layers.append(("application/vnd.ollama.image.template", template.encode()))
        if system is not None:
            layers.append(("application/vnd.ollama.image.system", system.encode()))
        if params is not None:
            layers.append(("application/vnd.ollama.image.params", json.dumps(params).encode()))
        if license is not None:
            layers.append(("application/vnd.ollama.image.license", license.encode()))
        layers.extend(extra_layers or [])
        entries = []
        for media_type, data in layers:
            digest = self.add_blob(data)
            entries.append({"mediaType": media_type, "digest": digest, "size": len(data)})
        config_blob = json.dumps(
            config
            or {
                "model_format": "gguf",
                "model_family": "llama",
                "model_families": ["llama"],
                "model_type": "1M",
                "file_type": "F32",
                "rootfs": {"type": "layers", "diff_ids": [e["digest"] for e in entries]},
            }
        ).encode()
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": {
                "mediaType": CONFIG_MEDIA_TYPE,
                "digest": self.add_blob(config_blob),
                "size": len(config_blob),
            },
            "layers": entries,
        }
        self.manifests[(namespace, name, tag)] = json.dumps(manifest, indent=2).encode()
        return manifest

    def blob_requests(self, digest: str | None = None) -> list[Request]:
        return [
            r
            for r in self.requests
            if "/blobs/" in r.path or r.path.startswith("/cdn/")
            if digest is None or r.path.endswith(digest)
        ]

    # --- handlers --------------------------------------------------------------------------
    async def _record(self, request: web.Request) -> None:
        self.requests.append(Request(request.method, request.path, dict(request.headers)))
        if self.delay:
            await asyncio.sleep(self.delay)

    async def _manifest(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        key = (request.match_info["ns"], request.match_info["name"], request.match_info["tag"])
        raw = self.manifests.get(key)
        if raw is None:
            return web.json_response(
                {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]},
                status=404,
            )
        return web.Response(body=raw, content_type=MANIFEST_MEDIA_TYPE)

    async def _blob(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        digest = request.match_info["digest"]
        if self.redirect_blobs:
            raise web.HTTPTemporaryRedirect(f"/cdn/{digest}")
        return await self._serve_blob(request, digest)

    async def _cdn(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        return await self._serve_blob(request, request.match_info["digest"])

    async def _serve_blob(self, request: web.Request, digest: str) -> web.StreamResponse:
        data = self.blobs.get(digest)
        if data is None or digest in self.missing_blobs:
            return web.json_response({"errors": [{"code": "BLOB_UNKNOWN"}]}, status=404)
        if digest in self.corrupt:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        start, end = 0, len(data) - 1
        status = 200
        header = request.headers.get("Range")
        if header and not self.ignore_range:
            match = _RANGE_RE.match(header)
            if not match or int(match.group(1)) >= len(data):
                return web.Response(status=416, headers={"Content-Range": f"bytes */{len(data)}"})
            start = int(match.group(1))
            end = int(match.group(2)) if match.group(2) else end
            status = 206
        body = data[start : end + 1]
        response = web.StreamResponse(status=status)
        response.content_type = "application/octet-stream"
        response.content_length = len(body)
        if status == 206:
            response.headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        cut = None
        if digest in self.cut_after and self._cuts.get(digest, 0) < self.cut_times:
            self._cuts[digest] = self._cuts.get(digest, 0) + 1
            cut = max(0, self.cut_after[digest] - start)
        self._in_flight += 1
        self.peak_concurrent_blobs = max(self.peak_concurrent_blobs, self._in_flight)
        try:
            await response.prepare(request)
            sent = 0
            for offset in range(0, len(body), self.chunk_size):
                chunk = body[offset : offset + self.chunk_size]
                if cut is not None and sent + len(chunk) > cut:
                    await response.write(chunk[: cut - sent])
                    await asyncio.sleep(0.05)
                    assert request.transport is not None
                    request.transport.close()  # drop the connection midway
                    return response
                await response.write(chunk)
                sent += len(chunk)
                if self.chunk_delay:
                    await asyncio.sleep(self.chunk_delay)
            await response.write_eof()
            return response
        finally:
            self._in_flight -= 1

    # --- lifecycle -------------------------------------------------------------------------
    async def start(self) -> RegistryServer:
        app = web.Application()
        app.router.add_get("/v2/{ns}/{name}/manifests/{tag}", self._manifest)
        app.router.add_get("/v2/{ns}/{name}/blobs/{digest}", self._blob)
        app.router.add_get("/cdn/{digest}", self._cdn)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.host = f"127.0.0.1:{port}"
        self.url = f"http://{self.host}"
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> RegistryServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class RegistryThread:
    """A :class:`RegistryServer` on its own event loop in a thread, for synchronous tests:
    ``with RegistryThread() as registry: ...``."""

    def __init__(self, **options: Any) -> None:
        self.server = RegistryServer(**options)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> RegistryServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(10)
        return self.server

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
