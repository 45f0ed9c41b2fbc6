"""The store reads Ollama's on-disk layout (written here by hand) and writes the same layout."""

# ruff: noqa: RUF001 - DeepSeek's tokens use full-width bars

from __future__ import annotations

import hashlib
import json
import os
from datetime import timezone
from pathlib import Path

import gguf
import numpy as np
import pytest

from ollama_gateway.errors import BadRequest, ModelLoadError, ModelNotFound
from ollama_gateway.models.store import ModelStore
from tests.models.conftest import sha, write_ollama_model

DEEPSEEK_TEMPLATE = (
    "{{- if .System }}{{ .System }}{{ end }}\n"
    "{{- range $i, $_ := .Messages }}\n"
    "{{- $last := eq (len (slice $.Messages $i)) 1}}\n"
    '{{- if eq .Role "user" }}<｜User｜>{{ .Content }}\n'
    '{{- else if eq .Role "assistant" }}<｜Assistant｜>{{ .Content }}'
    "{{- if not $last }}<｜end▁of▁sentence｜>{{- end }}\n"
    "{{- end }}\n"
    '{{- if and $last (ne .Role "assistant") }}<｜Assistant｜>{{- end }}\n'
    "{{- end }}"
)
STOP = {
    "stop": ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>"]
}


def deepseek(root: Path, model: bytes = b"GGUF-weights-" * 100):
    return write_ollama_model(
        root,
        "registry.ollama.ai",
        "library",
        "deepseek-r1",
        "1.5b",
        model=model,
        template=DEEPSEEK_TEMPLATE,
        params=STOP,
        license="MIT License\n\nCopyright (c) 2023 DeepSeek",
    )


def test_resolves_a_model_laid_out_by_ollama(models_root):
    made = deepseek(models_root)
    store = ModelStore(models_root)
    resolved = store.resolve("deepseek-r1:1.5b")

    assert resolved.name == "deepseek-r1:1.5b"
    assert resolved.model_path == models_root / "blobs" / made.model_digest.replace(":", "-")
    assert resolved.model_path.read_bytes() == b"GGUF-weights-" * 100
    assert resolved.digest == made.model_digest
    assert resolved.size == made.total_size
    assert resolved.template == DEEPSEEK_TEMPLATE
    assert resolved.system is None
    assert resolved.params == STOP
    assert resolved.license == "MIT License\n\nCopyright (c) 2023 DeepSeek"
    assert resolved.manifest_digest == "sha256:" + hashlib.sha256(made.manifest_bytes).hexdigest()
    assert resolved.config["model_family"] == "qwen2"
    assert resolved.details == {
        "parent_model": "",
        "format": "gguf",
        "family": "qwen2",
        "families": ["qwen2"],
        "parameter_size": "1.8B",
        "quantization_level": "Q4_K_M",
    }
    assert resolved.modified_at.tzinfo is not None
    assert resolved.modified_at.timestamp() == pytest.approx(made.manifest_path.stat().st_mtime)


@pytest.mark.parametrize(
    "ref",
    [
        "deepseek-r1:1.5b",
        "library/deepseek-r1:1.5b",
        "registry.ollama.ai/library/deepseek-r1:1.5b",
        "DeepSeek-R1:1.5B",
    ],
)
def test_every_spelling_of_a_name_resolves(models_root, ref):
    deepseek(models_root)
    assert ModelStore(models_root).resolve(ref).name == "deepseek-r1:1.5b"


def test_model_info_for_tags(models_root):
    made = deepseek(models_root)
    info = ModelStore(models_root).resolve("deepseek-r1:1.5b").to_model_info()
    assert info.name == "deepseek-r1:1.5b"
    assert info.digest == hashlib.sha256(made.manifest_bytes).hexdigest()
    assert info.size == made.total_size
    assert info.details["quantization_level"] == "Q4_K_M"
    assert info.modified_at.endswith("+00:00")


def test_system_adapter_projector_and_messages_layers(models_root):
    write_ollama_model(
        models_root,
        "registry.ollama.ai",
        "someone",
        "vision",
        "v1",
        model=b"weights",
        system="You are a vision model.",
        extra_layers=[
            ("application/vnd.ollama.image.projector", b"projector"),
            ("application/vnd.ollama.image.adapter", b"adapter"),
            ("application/vnd.ollama.image.messages", b'[{"role":"user","content":"hi"}]'),
            ("application/vnd.ollama.image.license", b"second licence"),
            ("application/vnd.ollama.image.license", b"third licence"),
        ],
    )
    resolved = ModelStore(models_root).resolve("someone/vision:v1")
    assert resolved.name == "someone/vision:v1"
    assert resolved.system == "You are a vision model."
    assert [p.read_bytes() for p in resolved.projectors] == [b"projector"]
    assert [p.read_bytes() for p in resolved.adapters] == [b"adapter"]
    assert resolved.messages == [{"role": "user", "content": "hi"}]
    assert resolved.license == "second licence\n\nthird licence"
    assert resolved.template is None
    assert resolved.params == {}


def test_other_registry_displays_with_host(models_root):
    write_ollama_model(models_root, "127.0.0.1:5000", "team", "m", "q8", model=b"w")
    store = ModelStore(models_root)
    assert store.resolve("127.0.0.1:5000/team/m:q8").name == "127.0.0.1:5000/team/m:q8"
    with pytest.raises(ModelNotFound):
        store.resolve("team/m:q8")


def test_missing_model_is_model_not_found(models_root):
    deepseek(models_root)
    with pytest.raises(ModelNotFound) as info:
        ModelStore(models_root).resolve("deepseek-r1:7b")
    assert info.value.message == 'model "deepseek-r1:7b" not found, try pulling it first'
    with pytest.raises(ModelNotFound):
        ModelStore(models_root / "nowhere").resolve("anything")


def test_garbage_name_is_bad_request(models_root):
    with pytest.raises(BadRequest):
        ModelStore(models_root).resolve("not a name")


def test_missing_model_blob_is_reported(models_root):
    made = deepseek(models_root)
    (models_root / "blobs" / made.model_digest.replace(":", "-")).unlink()
    with pytest.raises(ModelNotFound, match=r"is incomplete: its model blob .* is missing"):
        ModelStore(models_root).resolve("deepseek-r1:1.5b")


def test_corrupt_manifest_is_a_load_error(models_root):
    made = deepseek(models_root)
    made.manifest_path.write_text("{not json")
    with pytest.raises(ModelLoadError, match="is corrupt"):
        ModelStore(models_root).resolve("deepseek-r1:1.5b")


def test_pinned_digest_must_match(models_root):
    made = deepseek(models_root)
    store = ModelStore(models_root)
    assert store.resolve(f"deepseek-r1:1.5b@{made.model_digest}").digest == made.model_digest
    with pytest.raises(ModelNotFound, match="digest differs"):
        store.resolve("deepseek-r1:1.5b@sha256:" + "0" * 64)


def test_list_returns_every_model_newest_first_and_skips_broken(models_root):
    deepseek(models_root)
    other = write_ollama_model(
        models_root, "registry.ollama.ai", "library", "llama3", "latest", model=b"llama"
    )
    broken = write_ollama_model(
        models_root, "registry.ollama.ai", "library", "broken", "latest", model=b"b"
    )
    broken.manifest_path.write_text("garbage")
    os.utime(other.manifest_path, (2_000_000_000, 2_000_000_000))
    (models_root / "manifests" / "registry.ollama.ai" / "library" / ".DS_Store").write_text("x")
    models = ModelStore(models_root).list()
    assert [m.name for m in models] == ["llama3:latest", "deepseek-r1:1.5b"]
    assert models[0].modified_at.tzinfo == timezone.utc
    assert ModelStore(models_root / "empty").list() == []


def test_delete_removes_manifest_and_unshared_blobs(models_root):
    shared = b"shared weights"
    a = write_ollama_model(
        models_root, "registry.ollama.ai", "library", "a", "latest", model=shared, system="A"
    )
    b = write_ollama_model(
        models_root, "registry.ollama.ai", "library", "b", "latest", model=shared, system="B"
    )
    store = ModelStore(models_root)
    store.delete("a")
    assert not a.manifest_path.exists()
    assert not a.manifest_path.parent.exists()  # empty directories pruned
    blobs = {p.name for p in (models_root / "blobs").iterdir()}
    assert sha(shared).replace(":", "-") in blobs  # still used by b
    assert sha(b"A").replace(":", "-") not in blobs
    assert set(b.blobs) == {f"sha256:{n.removeprefix('sha256-')}" for n in blobs}
    assert store.resolve("b").system == "B"
    with pytest.raises(ModelNotFound):
        store.resolve("a")
    with pytest.raises(ModelNotFound):
        store.delete("a")
    store.delete("b")
    assert list((models_root / "blobs").iterdir()) == []
    assert store.list() == []


def test_delete_keeps_blobs_when_another_manifest_is_unreadable(models_root):
    a = write_ollama_model(models_root, "registry.ollama.ai", "library", "a", "1", model=b"aa")
    c = write_ollama_model(models_root, "registry.ollama.ai", "library", "c", "1", model=b"cc")
    c.manifest_path.write_text("corrupt")
    ModelStore(models_root).delete("a:1")
    assert not a.manifest_path.exists()
    assert (models_root / "blobs" / a.model_digest.replace(":", "-")).exists()


def test_copy_writes_a_new_manifest_over_the_same_blobs(models_root):
    made = deepseek(models_root)
    store = ModelStore(models_root)
    blobs_before = sorted(p.name for p in (models_root / "blobs").iterdir())
    copied = store.copy("deepseek-r1:1.5b", "me/my-r1:latest")
    assert copied.name == "me/my-r1:latest"
    assert copied.model_path == store.resolve("deepseek-r1:1.5b").model_path
    assert copied.template == DEEPSEEK_TEMPLATE
    assert sorted(p.name for p in (models_root / "blobs").iterdir()) == blobs_before
    dst = models_root / "manifests" / "registry.ollama.ai" / "me" / "my-r1" / "latest"
    assert json.loads(dst.read_bytes()) == json.loads(made.manifest_bytes)
    store.delete("deepseek-r1:1.5b")  # the copy keeps every blob alive
    assert store.resolve("me/my-r1").model_path.exists()
    with pytest.raises(ModelNotFound):
        store.copy("nope", "x")


def _tiny_gguf(path: Path) -> None:
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_file_type(7)  # Q8_0
    writer.add_uint64("general.parameter_count", 1_777_088_000)
    writer.add_token_list(["a", "b", "c"])
    writer.add_tensor("t", np.zeros(8, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_the_operators_gguf_file_resolves_under_its_name(tmp_path, models_root):
    path = tmp_path / "tiny.gguf"
    _tiny_gguf(path)
    resolved = ModelStore(models_root).resolve_file(str(path), "tiny:latest")
    assert resolved.name == "tiny:latest"
    assert resolved.model_path == path
    assert resolved.template is None and resolved.system is None and resolved.params == {}
    assert resolved.size == path.stat().st_size
    assert resolved.digest == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    assert resolved.identity == (path.stat().st_dev, path.stat().st_ino)
    assert resolved.config["model_family"] == "llama"
    assert resolved.config["file_type"] == "Q8_0"
    assert resolved.config["model_type"] == "1.8B"
    with pytest.raises(ModelNotFound, match="not found"):
        ModelStore(models_root).resolve_file(str(tmp_path / "missing.gguf"), "missing:latest")


@pytest.mark.parametrize(
    "name",
    ["/etc/passwd", "/nonexistent/file", "./tiny.gguf", "../tiny.gguf", "~/tiny.gguf", "a\\b"],
)
def test_a_path_is_not_a_name_of_the_store(tmp_path, models_root, name, monkeypatch):
    (tmp_path / "tiny.gguf").write_bytes(b"GGUF")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BadRequest, match="invalid model name"):
        ModelStore(models_root).resolve(name)


def test_two_names_of_one_blob_have_one_identity(models_root):
    deepseek(models_root)
    store = ModelStore(models_root)
    store.copy("deepseek-r1:1.5b", "mine:v1")
    a, b = store.resolve("deepseek-r1:1.5b"), store.resolve("mine:v1")
    assert a.identity is not None and a.identity == b.identity
    assert (a.name, b.name) == ("deepseek-r1:1.5b", "mine:v1")


def test_import_gguf_creates_an_ollama_model(tmp_path, models_root):
    path = tmp_path / "tiny.gguf"
    _tiny_gguf(path)
    store = ModelStore(models_root)
    resolved = store.import_gguf(path, "tiny:q8", template="{{ .Prompt }}", params={"stop": ["x"]})
    assert resolved.name == "tiny:q8"
    assert resolved.model_path.read_bytes() == path.read_bytes()
    assert resolved.digest == sha(path.read_bytes())
    assert resolved.template == "{{ .Prompt }}"
    assert resolved.params == {"stop": ["x"]}
    assert resolved.details["family"] == "llama"
    # The layout is Ollama's, read back by hand
    manifest_file = models_root / "manifests" / "registry.ollama.ai" / "library" / "tiny" / "q8"
    manifest = json.loads(manifest_file.read_bytes())
    assert manifest["schemaVersion"] == 2
    assert manifest["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert manifest["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json"
    assert [layer["mediaType"] for layer in manifest["layers"]] == [
        "application/vnd.ollama.image.model",
        "application/vnd.ollama.image.template",
        "application/vnd.ollama.image.params",
    ]
    for layer in [manifest["config"], *manifest["layers"]]:
        blob = models_root / "blobs" / layer["digest"].replace(":", "-")
        assert sha(blob.read_bytes()) == layer["digest"]
        assert blob.stat().st_size == layer["size"]
    assert not [p for p in (models_root / "blobs").iterdir() if p.name.startswith(".")]


def test_import_rejects_a_file_that_is_not_gguf(tmp_path, models_root):
    path = tmp_path / "fake.gguf"
    path.write_bytes(b"not a gguf file at all")
    with pytest.raises(BadRequest, match="is not a GGUF model"):
        ModelStore(models_root).import_gguf(path, "fake")


def test_write_manifest_refuses_missing_blobs(models_root):
    from ollama_gateway.models.manifest import Layer, Manifest

    store = ModelStore(models_root)
    config = store.write_blob(b"{}", "application/vnd.docker.container.image.v1+json")
    missing = Layer("application/vnd.ollama.image.model", sha(b"absent"), 6)
    with pytest.raises(ModelLoadError, match="is missing"):
        store.write_manifest("m", Manifest(config=config, layers=[missing]))
    assert not (models_root / "manifests").exists()


def test_blob_path_validates_digests(models_root):
    store = ModelStore(models_root)
    with pytest.raises(BadRequest):
        store.blob_path("sha256:../../etc/passwd")
    assert store.partial_path("sha256:" + "a" * 64).name == "sha256-" + "a" * 64 + "-partial"
