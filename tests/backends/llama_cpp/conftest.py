"""Generated models and engines for the embedded-engine tests (real llama.cpp inference)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.gguf_models import write_qwen2, write_tiny_llama


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def tiny_path(models_dir: Path) -> Path:
    """The tiny llama model, F32."""
    return write_tiny_llama(models_dir / "tiny.gguf", n_ctx=4096)


@pytest.fixture(scope="session")
def tiny_q8_path(models_dir: Path) -> Path:
    return write_tiny_llama(models_dir / "tiny-q8.gguf", qtype="Q8_0", seed=1, n_ctx=4096)


@pytest.fixture(scope="session")
def qwen_path(models_dir: Path) -> Path:
    """A tiny qwen2 model with DeepSeek-R1's added tokens and chat template (Q8_0)."""
    return write_qwen2(models_dir / "qwen2-tiny-q8.gguf", qtype="Q8_0")


@pytest.fixture(scope="session")
def tiny_model(tiny_path: Path) -> Iterator:
    from ollama_gateway.backends.llama_cpp.model import Model

    model = Model.load(tiny_path)
    yield model
    model.free()


@pytest.fixture(scope="session")
def tiny_q8_model(tiny_q8_path: Path) -> Iterator:
    from ollama_gateway.backends.llama_cpp.model import Model

    model = Model.load(tiny_q8_path)
    yield model
    model.free()


@pytest.fixture
def make_engine() -> Iterator:
    """Build engines on a loaded model; every one is closed after the test."""
    from ollama_gateway.backends.llama_cpp.engine import Engine, EngineConfig

    engines = []

    def make(model, **config):
        config.setdefault("n_threads", 1)
        config.setdefault("n_ctx", 512)
        engine = Engine(model, EngineConfig(**config))
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()


TINY = "tiny:latest"  # the name the backend fixtures serve tiny.gguf under (--model tiny.gguf)


def store_model(store, path: Path, name: str) -> str:
    """Put the file at ``path`` into ``store`` as model ``name`` (blob, config, manifest), as a
    pull would, without checking it: a broken file makes a broken model. Returns ``name``."""
    import json

    from ollama_gateway.models.manifest import CONFIG_MEDIA_TYPE, MEDIA_MODEL, Manifest

    layer = store.import_blob_file(path, MEDIA_MODEL)
    config = store.write_blob(json.dumps({"model_format": "gguf"}).encode(), CONFIG_MEDIA_TYPE)
    store.write_manifest(name, Manifest(config=config, layers=[layer]))
    return name
