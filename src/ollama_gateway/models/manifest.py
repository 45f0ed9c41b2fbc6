"""Ollama's image manifest: a Docker v2 manifest whose layers are a model's parts.

On disk and on the wire it reads::

    {"schemaVersion": 2,
     "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
     "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                "digest": "sha256:...", "size": 487},
     "layers": [{"mediaType": "application/vnd.ollama.image.model", "digest": "sha256:...",
                 "size": 1117320736}, ...]}

Each digest names a blob stored as ``blobs/sha256-<hex>``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_MEDIA_TYPE = "application/vnd.docker.container.image.v1+json"
MEDIA_MODEL = "application/vnd.ollama.image.model"
MEDIA_TEMPLATE = "application/vnd.ollama.image.template"
MEDIA_SYSTEM = "application/vnd.ollama.image.system"
MEDIA_PARAMS = "application/vnd.ollama.image.params"
MEDIA_LICENSE = "application/vnd.ollama.image.license"
MEDIA_MESSAGES = "application/vnd.ollama.image.messages"
MEDIA_ADAPTER = "application/vnd.ollama.image.adapter"
MEDIA_PROJECTOR = "application/vnd.ollama.image.projector"

DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


class ManifestError(ValueError):
    """A manifest that is not valid JSON or lacks required fields."""


def check_digest(digest: str) -> str:
    """Return ``digest`` when it is ``sha256:<64 lowercase hex>``; raise ManifestError if not."""
    if not isinstance(digest, str) or not DIGEST_RE.match(digest):
        raise ManifestError(f"invalid digest {digest!r}: expected sha256:<64 hex digits>")
    return digest


def sha256_file(path: Path) -> str:
    """The ``sha256:<hex>`` digest of the file at ``path`` (read in 1 MiB chunks; blocking)."""
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            sha.update(chunk)
    return "sha256:" + sha.hexdigest()


@dataclass(slots=True)
class Layer:
    """One blob of a manifest: its media type, digest and size in bytes."""

    media_type: str
    digest: str
    size: int
    from_: str | None = None  # Ollama records where a layer came from when it was created

    @classmethod
    def from_json(cls, data: Any) -> Layer:
        if not isinstance(data, dict):
            raise ManifestError("a manifest layer must be an object")
        try:
            media_type = data["mediaType"]
            digest = data["digest"]
            size = data["size"]
        except KeyError as exc:
            raise ManifestError(f"a manifest layer lacks {exc.args[0]!r}") from None
        if not isinstance(media_type, str):
            raise ManifestError("a layer's mediaType must be a string")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ManifestError(f"layer {digest!r} has an invalid size {size!r}")
        return cls(media_type, check_digest(digest), size, data.get("from") or None)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest}
        out["size"] = self.size
        if self.from_:
            out["from"] = self.from_
        return out


@dataclass(slots=True)
class Manifest:
    """A parsed manifest: the config blob and the layers, in order."""

    config: Layer
    layers: list[Layer] = field(default_factory=list)
    schema_version: int = 2
    media_type: str = MANIFEST_MEDIA_TYPE

    @classmethod
    def from_bytes(cls, raw: bytes) -> Manifest:
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ManifestError(f"the manifest is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ManifestError("the manifest must be a JSON object")
        if data.get("schemaVersion") != 2:
            raise ManifestError(f"unsupported manifest schemaVersion {data.get('schemaVersion')!r}")
        if "config" not in data:
            raise ManifestError("the manifest has no config")
        layers = data.get("layers")
        if not isinstance(layers, list):
            raise ManifestError("the manifest has no layers list")
        return cls(
            config=Layer.from_json(data["config"]),
            layers=[Layer.from_json(layer) for layer in layers],
            schema_version=2,
            media_type=data.get("mediaType") or MANIFEST_MEDIA_TYPE,
        )

    def to_bytes(self) -> bytes:
        """The manifest as Ollama writes it (compact JSON)."""
        data = {
            "schemaVersion": self.schema_version,
            "mediaType": self.media_type,
            "config": self.config.to_json(),
            "layers": [layer.to_json() for layer in self.layers],
        }
        return json.dumps(data, separators=(",", ":")).encode()

    @property
    def blobs(self) -> list[Layer]:
        """Every blob the manifest needs: the config, then the layers."""
        return [self.config, *self.layers]

    @property
    def size(self) -> int:
        """Total bytes of every blob, config included (what Ollama reports as a model's size)."""
        return sum(layer.size for layer in self.blobs)

    def first(self, media_type: str) -> Layer | None:
        return next((layer for layer in self.layers if layer.media_type == media_type), None)

    def all(self, media_type: str) -> list[Layer]:
        return [layer for layer in self.layers if layer.media_type == media_type]
