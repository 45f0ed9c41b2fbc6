"""The local model store, laid out exactly as Ollama lays out its own.

::

    <models>/manifests/<host>/<namespace>/<name>/<tag>   JSON manifest (see manifest.py)
    <models>/blobs/sha256-<hex>                          content-addressed blobs

So models pulled by Ollama are served as they are, and models pulled or imported here are visible
to Ollama. Every write is atomic (a temporary file in the same directory, then ``os.replace``):
a reader sees either the old manifest or the new one, never half of one.

The methods do file I/O and are synchronous; call them from a worker thread in async code.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ollama_gateway.errors import BadRequest, ModelLoadError, ModelNotFound
from ollama_gateway.models.manifest import (
    MEDIA_ADAPTER,
    MEDIA_LICENSE,
    MEDIA_MESSAGES,
    MEDIA_MODEL,
    MEDIA_PARAMS,
    MEDIA_PROJECTOR,
    MEDIA_SYSTEM,
    MEDIA_TEMPLATE,
    Layer,
    Manifest,
    ManifestError,
    check_digest,
)
from ollama_gateway.models.refs import ModelRef, parse_ref
from ollama_gateway.models.resolved import ResolvedModel, resolve_gguf_file

log = logging.getLogger(__name__)


class ModelStore:
    """Models in Ollama's on-disk layout under ``root`` (e.g. ``~/.ollama/models``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser()
        self.manifests_dir = self.root / "manifests"
        self.blobs_dir = self.root / "blobs"

    # --- paths -----------------------------------------------------------------------------
    def blob_path(self, digest: str) -> Path:
        """``blobs/sha256-<hex>`` for ``sha256:<hex>``."""
        try:
            check_digest(digest)
        except ManifestError as exc:
            raise BadRequest(str(exc)) from None
        return self.blobs_dir / digest.replace(":", "-")

    def partial_path(self, digest: str) -> Path:
        """Where a download of ``digest`` in progress is kept (resumable)."""
        return self.blob_path(digest).with_name(self.blob_path(digest).name + "-partial")

    def manifest_path(self, ref: str | ModelRef) -> Path:
        """Where ``ref``'s manifest is (or would be) stored."""
        r = ref if isinstance(ref, ModelRef) else parse_ref(ref)
        return self.manifests_dir.joinpath(*r.manifest_parts)

    def has_blob(self, digest: str, size: int | None = None) -> bool:
        path = self.blob_path(digest)
        try:
            st = path.stat()
        except OSError:
            return False
        return size is None or st.st_size == size

    # --- reading ----------------------------------------------------------------------------
    def _find_manifest(self, ref: ModelRef) -> Path | None:
        """The manifest file of ``ref``: the exact path, else a case-insensitive match."""
        exact = self.manifests_dir.joinpath(*ref.manifest_parts)
        if exact.is_file():
            return exact
        current = self.manifests_dir
        for part in ref.manifest_parts:
            if not current.is_dir():
                return None
            with os.scandir(current) as entries:
                match = next((e.name for e in entries if e.name.lower() == part.lower()), None)
            if match is None:
                return None
            current = current / match
        return current if current.is_file() else None

    def _iter_manifest_files(self) -> Iterator[tuple[ModelRef, Path]]:
        if not self.manifests_dir.is_dir():
            return
        for path in sorted(self.manifests_dir.glob("*/*/*/*")):
            if not path.is_file() or path.name.startswith("."):
                continue
            host, namespace, name, tag = path.relative_to(self.manifests_dir).parts
            try:
                ref = parse_ref(f"{host}/{namespace}/{name}:{tag}")
            except BadRequest:
                log.warning("skipping %s: not a valid model name", path)
                continue
            yield ref, path

    def _read_manifest(self, path: Path) -> tuple[Manifest, bytes]:
        raw = path.read_bytes()
        try:
            return Manifest.from_bytes(raw), raw
        except ManifestError as exc:
            raise ModelLoadError(f"model manifest {path} is corrupt: {exc}") from None

    def _read_text(self, layer: Layer) -> str | None:
        try:
            return self.blob_path(layer.digest).read_text(encoding="utf-8")
        except OSError:
            log.warning("blob %s (%s) is missing", layer.digest, layer.media_type)
            return None

    def _read_json(self, layer: Layer) -> Any:
        text = self._read_text(layer)
        if text is None:
            return None
        try:
            return json.loads(text)
        except ValueError:
            log.warning("blob %s (%s) is not valid JSON", layer.digest, layer.media_type)
            return None

    def _resolve_manifest(self, ref: ModelRef, path: Path, requested: str) -> ResolvedModel:
        manifest, raw = self._read_manifest(path)
        manifest_digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        model_layer = manifest.first(MEDIA_MODEL)
        if model_layer is None:
            raise ModelLoadError(f'model "{ref.display}" has no model layer in its manifest')
        if ref.digest and ref.digest not in (model_layer.digest, manifest_digest):
            raise ModelNotFound(requested, f'model "{requested}" not found: the digest differs')
        model_path = self.blob_path(model_layer.digest)
        try:
            blob = model_path.stat()
        except OSError:
            blob = None
        if blob is None or not stat.S_ISREG(blob.st_mode):
            raise ModelNotFound(
                requested,
                f'model "{ref.display}" is incomplete: its model blob {model_layer.digest} is '
                "missing, pull it again",
            )
        resolved = ResolvedModel(
            name=ref.display,
            model_path=model_path,
            digest=model_layer.digest,
            size=manifest.size,
            modified_at=datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc),
            manifest_digest=manifest_digest,
            ref=ref,
            identity=(blob.st_dev, blob.st_ino),
        )
        config = self._read_json(manifest.config)
        if isinstance(config, dict):
            resolved.config = config
        licenses: list[str] = []
        for layer in manifest.layers:
            if layer.media_type == MEDIA_TEMPLATE:
                resolved.template = self._read_text(layer)
            elif layer.media_type == MEDIA_SYSTEM:
                resolved.system = self._read_text(layer)
            elif layer.media_type == MEDIA_PARAMS:
                params = self._read_json(layer)
                resolved.params = params if isinstance(params, dict) else {}
            elif layer.media_type == MEDIA_LICENSE:
                text = self._read_text(layer)
                if text is not None:
                    licenses.append(text)
            elif layer.media_type == MEDIA_MESSAGES:
                messages = self._read_json(layer)
                resolved.messages = messages if isinstance(messages, list) else []
            elif layer.media_type == MEDIA_ADAPTER:
                resolved.adapters.append(self.blob_path(layer.digest))
            elif layer.media_type == MEDIA_PROJECTOR:
                resolved.projectors.append(self.blob_path(layer.digest))
        resolved.license = "\n\n".join(licenses) if licenses else None
        return resolved

    def resolve_file(self, path: str | Path, name: str) -> ResolvedModel:
        """The operator's GGUF file ``path`` as model ``name`` (``--model``; never from a request;
        not in the store: resolved.py)."""
        return resolve_gguf_file(path, name)

    def resolve(self, ref: str) -> ResolvedModel:
        """The model of the store that ``ref`` names (``qwen2:0.5b``); names are never paths.

        Raises :class:`ModelNotFound` when there is no such model, ``BadRequest`` on a name that
        is not a model name (a path among them, refused without looking at it) and
        ``ModelLoadError`` on a corrupt manifest.
        """
        parsed = parse_ref(ref)
        path = self._find_manifest(parsed)
        if path is None:
            raise ModelNotFound(ref)
        return self._resolve_manifest(self._ref_of(path, parsed.digest), path, ref)

    def _ref_of(self, path: Path, digest: str | None = None) -> ModelRef:
        """The name as stored on disk (its case), for a manifest found case-insensitively."""
        host, namespace, name, tag = path.relative_to(self.manifests_dir).parts
        return ModelRef(host=host, namespace=namespace, name=name, tag=tag, digest=digest)

    def exists(self, ref: str) -> bool:
        try:
            self.resolve(ref)
        except (ModelNotFound, ModelLoadError):
            return False
        return True

    def list(self) -> list[ResolvedModel]:
        """Every model in the store, most recently modified first; broken ones are skipped."""
        models: list[ResolvedModel] = []
        for ref, path in self._iter_manifest_files():
            try:
                models.append(self._resolve_manifest(ref, path, ref.display))
            except (ModelNotFound, ModelLoadError, OSError) as exc:
                log.warning("skipping %s: %s", ref.display, exc)
        models.sort(key=lambda m: m.modified_at, reverse=True)
        return models

    # --- writing ----------------------------------------------------------------------------
    def _atomic_write(self, path: Path, data: bytes, mode: int = 0o644) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def write_manifest(
        self, ref: str | ModelRef, manifest: Manifest, raw: bytes | None = None
    ) -> Path:
        """Write ``ref``'s manifest atomically; every blob it names must already be stored.

        ``raw`` is the manifest exactly as the registry sent it (kept byte for byte so that its
        digest matches the registry's); without it the manifest is serialised.
        """
        r = ref if isinstance(ref, ModelRef) else parse_ref(ref)
        for layer in manifest.blobs:
            if not self.has_blob(layer.digest, layer.size):
                raise ModelLoadError(
                    f"cannot write the manifest of {r.display}: blob {layer.digest} is missing"
                )
        path = self.manifests_dir.joinpath(*r.manifest_parts)
        existing = self._find_manifest(r)
        if existing is not None and existing != path:
            path = existing  # same model under another case: overwrite it, not a twin
        self._atomic_write(path, raw if raw is not None else manifest.to_bytes())
        return path

    def write_blob(self, data: bytes, media_type: str) -> Layer:
        """Store ``data`` as a blob (no-op when present) and return its layer."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if not self.has_blob(digest, len(data)):
            self._atomic_write(self.blob_path(digest), data)
        return Layer(media_type, digest, len(data))

    def import_blob_file(self, source: Path, media_type: str, *, link: bool = False) -> Layer:
        """Store a file as a blob (see :func:`ollama_gateway.models.importing.import_blob`)."""
        from ollama_gateway.models.importing import import_blob

        return import_blob(self, Path(source), media_type, link=link)

    def import_gguf(self, path: Path, name: str, **layers: Any) -> ResolvedModel:
        """Create model ``name`` from a local GGUF file (see
        :func:`ollama_gateway.models.importing.import_gguf` for ``layers``)."""
        from ollama_gateway.models.importing import import_gguf

        return import_gguf(self, Path(path), name, **layers)

    def copy(self, src: str, dst: str) -> ResolvedModel:
        """Make ``dst`` name the same blobs as ``src`` (a new manifest, no blob copied)."""
        src_ref = parse_ref(src)
        dst_ref = parse_ref(dst)
        path = self._find_manifest(src_ref)
        if path is None:
            raise ModelNotFound(src)
        manifest, _ = self._read_manifest(path)
        self.write_manifest(dst_ref, manifest)
        return self.resolve(dst_ref.full)

    def delete(self, ref: str) -> None:
        """Remove ``ref``'s manifest, then every blob no other manifest uses."""
        parsed = parse_ref(ref)
        path = self._find_manifest(parsed)
        if path is None:
            raise ModelNotFound(ref)
        try:
            manifest, _ = self._read_manifest(path)
            candidates = {layer.digest for layer in manifest.blobs}
        except ModelLoadError:
            candidates = set()  # a corrupt manifest: remove it, keep every blob
        path.unlink()
        self._prune_dirs(path.parent)
        self._remove_unused_blobs(candidates)

    def _prune_dirs(self, directory: Path) -> None:
        while directory != self.manifests_dir and self.manifests_dir in directory.parents:
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent

    def used_digests(self) -> set[str] | None:
        """Digests every manifest uses; None when a manifest cannot be read (be careful)."""
        used: set[str] = set()
        for _ref, path in self._iter_manifest_files():
            try:
                manifest = Manifest.from_bytes(path.read_bytes())
            except (ManifestError, OSError):
                log.warning("cannot read %s; keeping every blob", path)
                return None
            used.update(layer.digest for layer in manifest.blobs)
        return used

    def manifest_of(self, ref: str | ModelRef) -> Manifest | None:
        """The manifest of ``ref`` (found case-insensitively), None when there is none."""
        path = self._find_manifest(ref if isinstance(ref, ModelRef) else parse_ref(ref))
        return None if path is None else self._read_manifest(path)[0]

    def layer_json(self, layer: Layer) -> Any:
        """A JSON blob's value (config, params, messages); None when missing or not JSON."""
        return self._read_json(layer)

    def prune_blobs(self, candidates: set[str]) -> None:
        """Remove those of ``candidates`` that no manifest uses any more."""
        self._remove_unused_blobs(candidates)

    def _remove_unused_blobs(self, candidates: set[str]) -> None:
        if not candidates:
            return
        used = self.used_digests()
        if used is None:
            return
        for digest in candidates - used:
            with contextlib.suppress(FileNotFoundError):
                self.blob_path(digest).unlink()

    def remove_partials(self) -> None:
        """Delete every unfinished download (``*-partial`` files)."""
        if self.blobs_dir.is_dir():
            for path in self.blobs_dir.glob("sha256-*-partial*"):
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()
