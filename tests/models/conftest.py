"""Fixtures for the model store tests: a store laid out by hand exactly as Ollama lays it out."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class HandMadeModel:
    """What the test wrote, to compare against what the store reads."""

    manifest_path: Path
    manifest_bytes: bytes
    model_digest: str
    blobs: dict[str, bytes] = field(default_factory=dict)

    @property
    def total_size(self) -> int:
        return sum(len(b) for b in self.blobs.values())


def write_ollama_model(
    root: Path,
    host: str,
    namespace: str,
    name: str,
    tag: str,
    *,
    model: bytes,
    template: str | None = None,
    system: str | None = None,
    params: dict | None = None,
    license: str | None = None,
    config: dict | None = None,
    extra_layers: list[tuple[str, bytes]] | None = None,
) -> HandMadeModel:
    """Write blobs and a manifest the way Ollama does, without using the code under test."""
    blobs_dir = root / "blobs"
    blobs_dir.mkdir(parents=True, exist_ok=True)
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
    blobs: dict[str, bytes] = {}
    entries = []
    for media_type, data in layers:
        digest = sha(data)
        blobs[digest] = data
        (blobs_dir / digest.replace(":", "-")).write_bytes(data)
        entries.append({"mediaType": media_type, "digest": digest, "size": len(data)})
    config_bytes = json.dumps(
        config
        if config is not None
        else {
            "model_format": "gguf",
            "model_family": "qwen2",
            "model_families": ["qwen2"],
            "model_type": "1.8B",
            "file_type": "Q4_K_M",
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [e["digest"] for e in entries]},
        }
    ).encode()
    config_digest = sha(config_bytes)
    blobs[config_digest] = config_bytes
    (blobs_dir / config_digest.replace(":", "-")).write_bytes(config_bytes)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "digest": config_digest,
            "size": len(config_bytes),
        },
        "layers": entries,
    }
    manifest_bytes = json.dumps(manifest).encode()
    path = root / "manifests" / host / namespace / name / tag
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(manifest_bytes)
    return HandMadeModel(path, manifest_bytes, entries[0]["digest"], blobs)


@pytest.fixture
def models_root(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    root.mkdir()
    return root
