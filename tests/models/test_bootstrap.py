"""The default model on first start: present, pulled, or a clear message when offline."""

from __future__ import annotations

import socket

import pytest
from click.testing import CliRunner

from ollama_gateway.cli import main
from ollama_gateway.models.bootstrap import ModelUnavailable, ensure_default_model
from ollama_gateway.models.store import ModelStore
from tests.support.registry_server import RegistryServer


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_missing_default_model_is_pulled(make_settings, tmp_path):
    async with RegistryServer() as registry:
        registry.add_model("library", "tiny", "latest", model=b"GGUF" + b"\0" * 1000)
        settings = make_settings(model="tiny", models_dir=tmp_path, registry_url=registry.url)
        await ensure_default_model(settings)
        assert ModelStore(tmp_path).resolve("tiny").model_path.read_bytes().startswith(b"GGUF")
        before = len(registry.requests)
        await ensure_default_model(settings)  # present now: nothing fetched
        assert len(registry.requests) == before


async def test_offline_start_says_what_to_do(make_settings, tmp_path):
    settings = make_settings(
        model="deepseek-r1:1.5b",
        models_dir=tmp_path,
        registry_url=f"http://127.0.0.1:{_closed_port()}",
    )
    with pytest.raises(ModelUnavailable) as info:
        await ensure_default_model(settings)
    message = str(info.value)
    assert 'cannot pull the default model "deepseek-r1:1.5b"' in message
    assert "--model /path/to/model.gguf" in message
    assert "ollama-gateway pull --direct deepseek-r1:1.5b" in message


async def test_opting_out_of_the_pull(make_settings, tmp_path):
    settings = make_settings(model="tiny", models_dir=tmp_path, pull_on_start=False)
    with pytest.raises(ModelUnavailable, match="is not in"):
        await ensure_default_model(settings)


def test_serve_offline_exits_1_with_one_clear_line(tmp_path):
    result = CliRunner().invoke(
        main,
        [
            "serve",
            "--backend",
            "embedded",
            "--models-dir",
            str(tmp_path),
            "--registry-url",
            f"http://127.0.0.1:{_closed_port()}",
        ],
    )
    assert result.exit_code == 1
    assert "cannot pull the default model" in result.output
    assert "Traceback" not in result.output


def test_missing_gguf_file_is_named(tmp_path):
    result = CliRunner().invoke(
        main, ["serve", "--backend", "embedded", "--model", str(tmp_path / "nope.gguf")]
    )
    assert result.exit_code == 1
    assert "nope.gguf does not exist" in result.output
