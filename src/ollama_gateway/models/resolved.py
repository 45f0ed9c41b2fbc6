"""A model ready to load (:class:`ResolvedModel`): where its weights are and what its layers
say about it, as the store resolves a name, or as the operator's GGUF file is taken as it is.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ollama_gateway.core.types import ModelInfo
from ollama_gateway.errors import ModelLoadError, ModelNotFound
from ollama_gateway.models import gguf_meta
from ollama_gateway.models.manifest import sha256_file
from ollama_gateway.models.refs import ModelRef


@dataclass(slots=True)
class ResolvedModel:
    """A model ready to load: where its weights are and what Ollama's layers say about it.

    ``digest`` is the model layer's (``sha256:<hex>``); ``manifest_digest`` the manifest's, which
    is what Ollama's ``/api/tags`` reports as a model's digest. ``size`` counts every blob of the
    manifest (config included), as Ollama does. ``config`` holds the config blob's
    ``model_format``, ``model_family``, ``model_families``, ``model_type`` (the parameter size)
    and ``file_type`` (the quantization) when present.
    """

    name: str
    model_path: Path
    digest: str
    size: int
    modified_at: datetime
    template: str | None = None
    system: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    license: str | None = None
    manifest_digest: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    adapters: list[Path] = field(default_factory=list)
    projectors: list[Path] = field(default_factory=list)
    ref: ModelRef | None = None  # None for a model given as a GGUF path
    # What the model *is*: (device, inode) of its weights file, so that two names of one blob
    # (a copy, a hard link, the operator's file) are one model in memory.
    identity: tuple[int, int] | None = None

    @property
    def details(self) -> dict[str, Any]:
        """Ollama's ``details`` object for ``/api/tags`` and ``/api/show``."""
        family = self.config.get("model_family", "")
        families = self.config.get("model_families") or ([family] if family else None)
        return {
            "parent_model": "",
            "format": self.config.get("model_format", "gguf"),
            "family": family,
            "families": families,
            "parameter_size": self.config.get("model_type", ""),
            "quantization_level": self.config.get("file_type", ""),
        }

    def to_model_info(self) -> ModelInfo:
        """This model as ``/api/tags`` lists it."""
        digest = (self.manifest_digest or self.digest).removeprefix("sha256:")
        return ModelInfo(
            name=self.name,
            size=self.size,
            digest=digest,
            modified_at=self.modified_at.isoformat(),
            details=self.details,
        )


def resolve_gguf_file(path: str | Path, name: str) -> ResolvedModel:
    """The operator's GGUF file ``path`` as model ``name`` (``--model``; never from a request).

    The file's digest is its SHA-256 (reading it all once), as a blob's would be.
    """
    source = Path(path).expanduser().resolve()
    try:
        st = source.stat()
    except OSError:
        raise ModelNotFound(name, f'model file "{path}" not found') from None
    if not stat.S_ISREG(st.st_mode):
        raise ModelNotFound(name, f'model file "{path}" is not a file')
    config: dict[str, Any] = {"model_format": "gguf"}
    try:
        config.update(gguf_meta.describe(source))
    except (gguf_meta.GGUFFormatError, OSError) as exc:
        raise ModelLoadError(f'model file "{path}" is not a GGUF model: {exc}') from None
    return ResolvedModel(
        name=name,
        model_path=source,
        digest=sha256_file(source),
        size=st.st_size,
        modified_at=datetime.fromtimestamp(st.st_mtime, tz=timezone.utc),
        config=config,
        identity=(st.st_dev, st.st_ino),
    )
