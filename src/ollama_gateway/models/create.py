"""``/api/create``: a new model of the store, made from an existing one or an uploaded GGUF blob.

Two steps, both blocking (run them in a worker thread):

* :func:`plan_create` checks everything a request names before any work starts: the base model
  or the uploaded blob (present, a GGUF model), the quantization (a known type, from weights
  that can be quantized), the template (parsed, bounded), the parameters (known names, right
  types). Every problem is a 4xx here, before the first status line.
* :func:`build` does the work and reports it with Ollama's status lines: ``parsing GGUF``,
  ``quantizing F16 model to Q4_K_M``, ``verifying conversion``, ``using existing layer
  sha256:...`` / ``creating new layer sha256:...`` for each layer, ``writing manifest``,
  ``success``. The model is written in Ollama's layout (blobs, config, manifest), so list, show,
  copy and delete see it like any pulled model. Layers the replaced manifest of the same name
  used, and no model uses any more, are removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ollama_gateway.errors import BadRequest, ModelLoadError, ModelNotFound, clip
from ollama_gateway.modelfile import check_parameters
from ollama_gateway.models import gguf_meta
from ollama_gateway.models.gotemplate import template_variables
from ollama_gateway.models.manifest import (
    CONFIG_MEDIA_TYPE,
    MEDIA_LICENSE,
    MEDIA_MESSAGES,
    MEDIA_MODEL,
    MEDIA_PARAMS,
    MEDIA_SYSTEM,
    MEDIA_TEMPLATE,
    Layer,
    Manifest,
    ManifestError,
    check_digest,
)
from ollama_gateway.models.quantize import QuantizeCancelled, check_source, quantize_file
from ollama_gateway.models.quantize import quantize_type as canonical_quantize_type
from ollama_gateway.models.refs import ModelRef, parse_ref
from ollama_gateway.models.store import ModelStore

Emit = Callable[[dict[str, Any]], None]

MAX_TEMPLATE_CHARS = 64 * 1024
MAX_FILES = 8
MAX_LICENSES = 16
_FILE_NAME = re.compile(r"^[^\\:\x00-\x1f]{1,255}$")
_CHUNK = 1 << 20


class CreateCancelled(Exception):
    """The client left (or the server is stopping) while the model was being created."""


@dataclass(slots=True)
class CreateSpec:
    """What ``/api/create`` asks for, already checked for shape (schemas/ollama.py)."""

    model: str
    from_: str | None = None
    files: dict[str, str] | None = None
    template: str | None = None
    system: str | None = None
    parameters: dict[str, Any] | None = None
    messages: list[dict[str, Any]] | None = None
    license: list[str] | None = None
    quantize: str | None = None


@dataclass(slots=True)
class Plan:
    """A checked create request: the base layers and config, and what to change."""

    ref: ModelRef
    spec: CreateSpec
    layers: list[Layer]
    config: dict[str, Any]
    model_layer: Layer
    from_file: bool
    quantize: str | None = None  # the target type, when the weights must be quantized
    parameters: dict[str, Any] = field(default_factory=dict)


def check_file_name(name: str) -> str:
    """A ``files`` key: a relative, clean path (Go's ``fs.ValidPath``), no ``\\`` or ``:``."""
    parts = name.split("/")
    if not _FILE_NAME.match(name) or name == "." or any(part in ("", ".", "..") for part in parts):
        raise BadRequest(f"file path must be relative: {clip(name, 64)!r}")
    return name


def check_template(template: str) -> str:
    if len(template) > MAX_TEMPLATE_CHARS:
        raise BadRequest(
            f"the template is {len(template)} characters long (the limit is {MAX_TEMPLATE_CHARS})"
        )
    template_variables(template)  # BadRequest("invalid template: ...") when it does not parse
    return template


def _gguf(path: Path, label: str) -> tuple[dict[str, Any], int]:
    """The plain metadata and parameter count of a GGUF blob; 400 when it is not one."""
    try:
        meta, n_params = gguf_meta.read_gguf(path, max_array=0, tensors=True)
    except (gguf_meta.GGUFFormatError, OSError, ValueError) as exc:
        reason = f"{clip(label, 64)} ({exc})"
        raise BadRequest(f"supplied file was not in GGUF format: {reason}") from None
    return gguf_meta.plain_metadata(meta), n_params


def _config_of(meta: dict[str, Any], n_params: int) -> dict[str, Any]:
    family = str(meta.get("general.architecture", ""))
    file_type = meta.get("general.file_type")
    params = meta.get("general.parameter_count")
    return {
        "model_format": "gguf",
        "model_family": family,
        "model_families": [family] if family else None,
        "model_type": gguf_meta.human_parameter_count(
            params if isinstance(params, int) else n_params
        ),
        "file_type": gguf_meta.FILE_TYPES.get(file_type, str(file_type))
        if isinstance(file_type, int)
        else "",
    }


def _from_files(store: ModelStore, files: dict[str, str]) -> tuple[list[Layer], dict[str, Any]]:
    if not files:
        raise BadRequest("no files provided to convert")
    if len(files) > 1:
        raise BadRequest("only one GGUF model file is supported per model")
    ((name, digest),) = files.items()
    check_file_name(name)
    try:
        check_digest(digest)
    except ManifestError as exc:
        raise BadRequest(f"invalid digest for {clip(name, 64)}: {exc}") from None
    path = store.blob_path(digest)
    try:
        size = path.stat().st_size
    except OSError:
        raise BadRequest(f"blob not found for {clip(name, 64)} (digest {digest})") from None
    meta, n_params = _gguf(path, name)
    if meta.get("general.type") == "adapter":
        raise BadRequest(f"{clip(name, 64)} is a LoRA adapter: adapters are not supported")
    return [Layer(MEDIA_MODEL, digest, size)], _config_of(meta, n_params)


def _from_model(store: ModelStore, name: str) -> tuple[list[Layer], dict[str, Any]]:
    manifest = store.manifest_of(name)
    if manifest is None:
        raise ModelNotFound(name)
    config = store.layer_json(manifest.config)
    for layer in manifest.blobs:
        if not store.has_blob(layer.digest, layer.size):
            raise ModelNotFound(name, f'model "{clip(name)}" is incomplete: pull it again')
    keep = ("model_format", "model_family", "model_families", "model_type", "file_type")
    base = {k: config[k] for k in keep if isinstance(config, dict) and k in config}
    return list(manifest.layers), base


def plan_create(store: ModelStore, spec: CreateSpec) -> Plan:
    """Check ``spec`` against the store (blocking); raises BadRequest / ModelNotFound."""
    ref = parse_ref(spec.model)
    if spec.from_:
        layers, config = _from_model(store, spec.from_)
        from_file = False
    elif spec.files is not None:
        layers, config = _from_files(store, spec.files)
        from_file = True
    else:
        raise BadRequest("neither 'from' or 'files' was specified")
    model_layer = next((layer for layer in layers if layer.media_type == MEDIA_MODEL), None)
    if model_layer is None:
        raise BadRequest(f"{clip(spec.from_ or 'the file')} has no model layer")
    if spec.template:
        check_template(spec.template)
    plan = Plan(ref, spec, layers, config, model_layer, from_file)
    plan.parameters = check_parameters(spec.parameters)
    if spec.license is not None and len(spec.license) > MAX_LICENSES:
        raise BadRequest(f"too many licenses (the limit is {MAX_LICENSES})")
    if spec.quantize:
        target = canonical_quantize_type(spec.quantize)
        file_type = config.get("file_type") or ""
        if file_type != target:
            check_source(file_type, target)
            plan.quantize = target
    return plan


# --- building ------------------------------------------------------------------------------
def _layer_status(store: ModelStore, data: bytes, media_type: str) -> tuple[Layer, str]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    existed = store.has_blob(digest, len(data))
    layer = store.write_blob(data, media_type)
    return layer, f"{'using existing' if existed else 'creating new'} layer {digest}"


def _adopt(store: ModelStore, tmp: Path, media_type: str) -> tuple[Layer, str]:
    """Move the finished file ``tmp`` into the store as a blob (hashing it first)."""
    sha = hashlib.sha256()
    with open(tmp, "rb") as f:
        while chunk := f.read(_CHUNK):
            sha.update(chunk)
    digest = "sha256:" + sha.hexdigest()
    size = tmp.stat().st_size
    if store.has_blob(digest, size):
        tmp.unlink()
        return Layer(media_type, digest, size), f"using existing layer {digest}"
    os.chmod(tmp, 0o644)
    os.replace(tmp, store.blob_path(digest))
    return Layer(media_type, digest, size), f"creating new layer {digest}"


def _quantize(
    store: ModelStore, plan: Plan, emit: Emit, cancel: threading.Event
) -> tuple[Layer, str]:
    source = plan.model_layer
    target = plan.quantize or ""
    status = f"quantizing {plan.config.get('file_type') or 'unknown'} model to {target}"

    def progress(written: int) -> None:  # Ollama's shape: bytes against the source's size
        emit(
            {
                "status": status,
                "digest": "0000000000000000000",
                "total": source.size,
                "completed": min(written, source.size),
            }
        )

    progress(0)
    fd, name = tempfile.mkstemp(dir=store.blobs_dir, prefix=".quantize-", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        try:
            quantize_file(store.blob_path(source.digest), tmp, target, cancel, progress=progress)
        except QuantizeCancelled:
            raise CreateCancelled from None
        emit({"status": "verifying conversion"})
        meta, n_params = _gguf(tmp, "the quantized model")
        plan.config.update(
            {k: v for k, v in _config_of(meta, n_params).items() if k == "file_type"}
        )
        return _adopt(store, tmp, MEDIA_MODEL)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _merged_params(store: ModelStore, layers: list[Layer], new: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for layer in layers:
        if layer.media_type == MEDIA_PARAMS:
            old = store.layer_json(layer)
            if isinstance(old, dict):
                merged.update(old)
    merged.update(new)
    return merged


def build(store: ModelStore, plan: Plan, emit: Emit, cancel: threading.Event) -> None:
    """Blocking: create the model ``plan`` describes, reporting each step through ``emit``."""

    def step() -> None:
        if cancel.is_set():
            raise CreateCancelled

    spec = plan.spec
    statuses: list[str] = []
    layers = list(plan.layers)
    if plan.from_file:
        emit({"status": "parsing GGUF"})
    statuses += [f"using existing layer {layer.digest}" for layer in layers]
    if plan.quantize:
        new_model, status = _quantize(store, plan, emit, cancel)
        index = layers.index(plan.model_layer)
        layers[index] = new_model
        statuses[index] = status
    step()
    additions: list[tuple[str, bytes]] = []
    if spec.template:
        additions.append((MEDIA_TEMPLATE, spec.template.encode()))
    if spec.system:
        additions.append((MEDIA_SYSTEM, spec.system.encode()))
    params = _merged_params(store, layers, plan.parameters)
    if params:
        additions.append((MEDIA_PARAMS, json.dumps(params).encode()))
    if spec.messages:
        additions.append((MEDIA_MESSAGES, json.dumps(spec.messages).encode()))
    kept = [(layer, status) for layer, status in zip(layers, statuses, strict=True)]
    for media_type, data in additions:
        layer, status = _layer_status(store, data, media_type)
        kept = [(old, s) for old, s in kept if old.media_type != media_type] + [(layer, status)]
    for text in spec.license or ():
        layer, status = _layer_status(store, text.encode(), MEDIA_LICENSE)
        if all(old.digest != layer.digest for old, _ in kept):
            kept.append((layer, status))
    step()
    layers = [layer for layer, _ in kept]
    config = {
        **plan.config,
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer.digest for layer in layers]},
    }
    config_layer = store.write_blob(
        json.dumps(config, separators=(",", ":")).encode(), CONFIG_MEDIA_TYPE
    )
    for _, status in kept:
        emit({"status": status})
    emit({"status": "writing manifest"})
    step()
    old = _old_digests(store, plan.ref)
    store.write_manifest(plan.ref, Manifest(config=config_layer, layers=layers))
    store.prune_blobs(old)
    emit({"status": "success"})


def _old_digests(store: ModelStore, ref: ModelRef) -> set[str]:
    try:
        manifest = store.manifest_of(ref)
    except ModelLoadError:  # a corrupt manifest: keep every blob
        return set()
    return set() if manifest is None else {layer.digest for layer in manifest.blobs}
