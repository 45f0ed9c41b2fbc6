"""The YAML configuration file: every setting, flags and environment over it, errors by line."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import httpx
import orjson
import pytest
from click.testing import CliRunner

from ollama_gateway.cli import main
from ollama_gateway.cli.serve import _settings_for_workers
from ollama_gateway.config import ConfigError
from ollama_gateway.settings import Settings
from tests.support.processes import start_serve
from tests.support.secrets import KEY_A, UPSTREAM_KEY

FLEET = """\
port: 8100
api_keys: [{key}]
model: llama2
upstreams:
  - name: gpu-a
    url: http://10.0.0.5:11434
    max_in_flight: 8
  - name: vllm
    type: openai
    url: http://vllm:8000/v1
    api_key: ${{VLLM_KEY}}
    weight: 2
    models: [deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B]
  - name: pods
    url: ollama-headless:11434
    dns: true
  - embedded
aliases:
  deepseek-r1:1.5b: deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B
session_affinity: true
health_interval: 2.5
fallback_models:
  llama2: [deepseek-r1:1.5b]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def load(path: Path, **values) -> Settings:
    return Settings(_env_file=None, config=path, **values)


def test_the_file_sets_every_kind_of_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("VLLM_KEY", UPSTREAM_KEY)
    settings = load(write(tmp_path, FLEET.format(key=KEY_A)))
    assert settings.port == 8100 and settings.model == "llama2"
    assert [k.get_secret_value() for k in settings.api_keys] == [KEY_A]
    gpu, vllm, pods, embedded = settings.upstreams
    assert (gpu.name, gpu.type, gpu.url, gpu.max_in_flight) == (
        "gpu-a",
        "ollama",
        "http://10.0.0.5:11434",
        8,
    )
    assert (vllm.type, vllm.url, vllm.weight) == ("openai", "http://vllm:8000", 2.0)
    assert vllm.header_values() == {"Authorization": f"Bearer {UPSTREAM_KEY}"}
    assert UPSTREAM_KEY not in repr(settings)  # a secret, masked when printed
    assert pods.dns and pods.url == "http://ollama-headless:11434"
    assert (embedded.name, embedded.type) == ("embedded", "embedded")
    assert settings.aliases == {"deepseek-r1:1.5b": "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"}
    assert settings.session_affinity and settings.health_interval == 2.5
    assert settings.fallback_models == {"llama2": ["deepseek-r1:1.5b"]}


def test_flags_and_environment_override_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("VLLM_KEY", "x")
    path = write(tmp_path, FLEET.format(key=KEY_A))
    monkeypatch.setenv("OLLAMA_GATEWAY_PORT", "8200")
    monkeypatch.setenv("MODEL_NAME", "from-env")
    settings = load(path, health_interval=9)
    assert (settings.port, settings.model, settings.health_interval) == (8200, "from-env", 9)
    assert len(settings.upstreams) == 4  # what was not overridden still comes from the file
    monkeypatch.setenv("OLLAMA_GATEWAY_CONFIG", str(path))
    assert Settings(_env_file=None).session_affinity  # the file named by the environment


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("port: 8100\nupstreams:\n  - url: http://a\n    weight: -1\n", ":4: upstreams[0].weight:"),
        ("port: 8100\nupstream: []\n", ":2: upstream: unknown setting (did you mean 'upstreams'?)"),
        ("upstreams:\n  - url: http://a\n    colour: red\n", ":3: upstreams[0].colour: Extra"),
        ("port: [1\n", ":2: not valid YAML"),
        ("routing: fastest\n", ":1: routing: Input should be 'least_in_flight' or 'round_robin'"),
        ("upstreams:\n  - type: openai\n", ":2: upstreams[0]: Value error, an openai upstream"),
        ("aliases:\n  a: ${NOT_SET_ANYWHERE}\n", ":2: aliases.a: the environment variable"),
        ("port: 1\nport: 2\n", ":2: port: given twice"),
        ("- port\n", ":1: the file must be a mapping"),
    ],
)
def test_errors_name_the_line_and_the_field(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert str(caught.value).startswith(str(path))
    assert expected in str(caught.value)


def test_a_bad_value_from_the_environment_is_not_blamed_on_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("OLLAMA_GATEWAY_PORT", "not-a-port")
    with pytest.raises(Exception) as caught:
        load(write(tmp_path, "model: x\n"))
    assert not isinstance(caught.value, ConfigError)


def test_serve_reports_a_bad_file_as_a_usage_error(tmp_path):
    path = write(tmp_path, "upstreams:\n  - url: http://a\n    max_in_flight: 0\n")
    result = CliRunner().invoke(main, ["serve", "--config", str(path)])
    assert result.exit_code == 2
    assert f"{path}:3: upstreams[0].max_in_flight: Input should be greater than" in result.output
    assert "Traceback" not in result.output


def test_upstreams_as_flags_and_environment():
    settings = Settings(
        _env_file=None,
        upstreams=["http://a:11434", "openai=http://b:8000/v1", "embedded"],
        aliases=["x=y"],
        fallback_models=["big=small|tiny"],
    )
    assert [(u.name, u.type, u.url) for u in settings.upstreams] == [
        ("a:11434", "ollama", "http://a:11434"),
        ("b:8000", "openai", "http://b:8000"),
        ("embedded", "embedded", ""),
    ]
    assert settings.aliases == {"x": "y"} and settings.fallback_models == {"big": ["small", "tiny"]}
    env = Settings(_env_file=None, upstreams='[{"name": "n", "url": "h"}]', aliases="a=b,c=d")
    assert env.upstreams[0].url == "http://h:11434" and env.aliases == {"a": "b", "c": "d"}
    with pytest.raises(ValueError, match="unique"):
        Settings(_env_file=None, upstreams=["http://a:1", "http://a:1"])
    with pytest.raises(ValueError, match="backend fleet or auto"):
        Settings(_env_file=None, backend="ollama", upstreams=["http://a:1"])
    with pytest.raises(ValueError, match="dns needs a host name"):
        Settings(_env_file=None, upstreams=[{"url": "http://10.0.0.1", "dns": True}])


def test_workers_get_the_upstreams_credentials(tmp_path, monkeypatch):
    monkeypatch.setenv("VLLM_KEY", UPSTREAM_KEY)
    settings = load(write(tmp_path, FLEET.format(key=KEY_A)))
    handed = Settings(_env_file=None, **orjson.loads(_settings_for_workers(settings)))
    assert handed.upstreams == settings.upstreams
    assert handed.upstreams[1].api_key.get_secret_value() == UPSTREAM_KEY
    assert handed.config is None


def test_a_served_fleet_from_a_config_file(tmp_path, fake_ollama):
    path = write(
        tmp_path,
        f"""\
        upstreams:
          - name: local
            url: {fake_ollama.url}
        aliases:
          r1: deepseek-r1:1.5b
        """,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OLLAMA")}
    proc, url = start_serve("--config", str(path), env=env, cwd=tmp_path, timeout=120)
    try:
        r = httpx.post(f"{url}/api/generate", json={"model": "r1", "prompt": "hi"})
        assert r.status_code == 200 and r.json()["model"] == "r1"
        ready = httpx.get(f"{url}/ready").json()
        assert ready["backend"] == "fleet" and ready["upstreams"][0]["name"] == "local"
    finally:
        proc.terminate()
        proc.communicate(timeout=15)
    assert proc.returncode == 0


def test_the_documented_config_file_loads(tmp_path, monkeypatch):
    docs = (Path(__file__).resolve().parents[1] / "docs" / "fleet.md").read_text()
    example = docs.split("```yaml\n", 1)[1].split("```", 1)[0]
    monkeypatch.setenv("GATEWAY_KEY", KEY_A)
    monkeypatch.setenv("VLLM_API_KEY", UPSTREAM_KEY)
    settings = load(write(tmp_path, example))
    assert [u.type for u in settings.upstreams] == [
        "ollama",
        "ollama",
        "openai",
        "ollama",
        "embedded",
    ]
    assert settings.upstreams[2].header_values()["X-Team"] == "research"
    assert settings.fallback_models == {"deepseek-r1:14b": ["deepseek-r1:1.5b"]}


def test_workers_are_refused_with_the_embedded_engine_in_the_fleet():
    result = CliRunner().invoke(
        main,
        ["serve", "--upstream", "http://127.0.0.1:9", "--upstream", "embedded", "--workers", "2"],
    )
    assert result.exit_code == 2 and "--workers > 1 needs upstreams" in result.output
