"""Import local files into the model store: a GGUF file becomes a model (blob, config, manifest).

A blob is either a copy hashed while it is written, or, with ``link``, a hard link to the source
when both sit on one file system: no second copy of the weights. That is safe because neither
this store nor Ollama ever writes into a stored file (they replace whole files), and because a
package manager replaces a file by a new one rather than rewriting it in place.

The functions do file I/O and are synchronous; call them from a worker thread in async code.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ollama_gateway.errors import BadRequest, ModelNotFound
from ollama_gateway.models import gguf_meta
from ollama_gateway.models.manifest import (
    CONFIG_MEDIA_TYPE,
    MEDIA_LICENSE,
    MEDIA_MODEL,
    MEDIA_PARAMS,
    MEDIA_SYSTEM,
    MEDIA_TEMPLATE,
    Layer,
    Manifest,
)
from ollama_gateway.models.refs import parse_ref

if TYPE_CHECKING:
    from ollama_gateway.models.store import ModelStore, ResolvedModel

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


def _sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            sha.update(chunk)
    return "sha256:" + sha.hexdigest()


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _link_blob(store: ModelStore, source: Path, media_type: str) -> Layer | None:
    """``source`` hard-linked as its blob; None when the file system refuses (then copy)."""
    before = source.stat()
    digest = _sha256(source)
    layer = Layer(media_type, digest, before.st_size)
    if store.has_blob(digest, before.st_size):
        return layer
    tmp = store.blobs_dir / f".link-{os.getpid()}-{digest[7:19]}.tmp"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        os.link(source, tmp)
    except OSError as exc:
        log.info("cannot hard-link %s into the store (%s): copying it", source, exc)
        return None
    if _identity(tmp.stat()) != _identity(before):
        # The source was replaced or changed while it was hashed: the digest may be wrong.
        tmp.unlink()
        return None
    os.replace(tmp, store.blob_path(digest))
    return layer


def _copy_blob(store: ModelStore, source: Path, media_type: str) -> Layer:
    sha = hashlib.sha256()
    size = 0
    fd, tmp = tempfile.mkstemp(dir=store.blobs_dir, prefix=".import-", suffix=".tmp")
    try:
        with open(source, "rb") as src, os.fdopen(fd, "wb") as dst:
            while chunk := src.read(_CHUNK):
                sha.update(chunk)
                dst.write(chunk)
                size += len(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        digest = "sha256:" + sha.hexdigest()
        if store.has_blob(digest, size):
            os.unlink(tmp)
        else:
            os.chmod(tmp, 0o644)
            os.replace(tmp, store.blob_path(digest))
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return Layer(media_type, digest, size)


def import_blob(store: ModelStore, source: Path, media_type: str, *, link: bool = False) -> Layer:
    """Store the file ``source`` as a blob (no-op when present) and return its layer."""
    store.blobs_dir.mkdir(parents=True, exist_ok=True)
    if link:
        layer = _link_blob(store, source, media_type)
        if layer is not None:
            return layer
    return _copy_blob(store, source, media_type)


def import_gguf(
    store: ModelStore,
    path: Path,
    name: str,
    *,
    template: str | None = None,
    system: str | None = None,
    params: dict[str, Any] | None = None,
    license: str | None = None,
    link: bool = False,
) -> ResolvedModel:
    """Create model ``name`` from a local GGUF file: its blob, the optional template, system,
    params and license layers, a config and the manifest. Returns the model, resolved."""
    ref = parse_ref(name)
    source = Path(path).expanduser()
    if not source.is_file():
        raise ModelNotFound(str(path), f'model file "{path}" not found')
    try:
        described = gguf_meta.describe(source)
    except gguf_meta.GGUFFormatError as exc:
        raise BadRequest(f"{path} is not a GGUF model: {exc}") from None
    layers = [import_blob(store, source, MEDIA_MODEL, link=link)]
    if template is not None:
        layers.append(store.write_blob(template.encode(), MEDIA_TEMPLATE))
    if system is not None:
        layers.append(store.write_blob(system.encode(), MEDIA_SYSTEM))
    if params:
        layers.append(store.write_blob(json.dumps(params).encode(), MEDIA_PARAMS))
    if license is not None:
        layers.append(store.write_blob(license.encode(), MEDIA_LICENSE))
    family = described.get("model_family", "")
    config = {
        "model_format": "gguf",
        "model_family": family,
        "model_families": [family] if family else None,
        "model_type": described.get("model_type", ""),
        "file_type": described.get("file_type", ""),
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer.digest for layer in layers]},
    }
    config_layer = store.write_blob(
        json.dumps(config, separators=(",", ":")).encode(), CONFIG_MEDIA_TYPE
    )
    store.write_manifest(ref, Manifest(config=config_layer, layers=layers))
    return store.resolve(ref.full)
