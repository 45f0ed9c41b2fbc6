"""compose.yaml (and its keys-file override) against the Compose Specification's JSON schema, plus
the properties the deployment relies on."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import jsonschema
import pytest

from tests.deploy.conftest import free_port
from tests.deploy.manifests import COMPOSE_FILES, ROOT, compose_variables, load_yaml

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "compose-spec.json").read_text())
COMPOSE = load_yaml(ROOT / "compose.yaml")
SERVICES = COMPOSE["services"]
OLLAMAS = {name: s for name, s in SERVICES.items() if s.get("image", "").startswith("ollama/")}


def validator() -> jsonschema.Validator:
    # The file says draft 2019-09 (as "http://...schema#", which jsonschema does not look up).
    assert SCHEMA["$schema"].startswith("http://json-schema.org/draft/2019-09/")
    jsonschema.Draft201909Validator.check_schema(SCHEMA)
    return jsonschema.Draft201909Validator(SCHEMA)


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_compose_file_follows_the_compose_specification(path: Path):
    errors = sorted(validator().iter_errors(load_yaml(path)), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_the_schema_check_can_fail():
    broken = {"services": {"gateway": {"image": "x", "restart": "unless-stopped", "portz": []}}}
    assert list(validator().iter_errors(broken))


def test_one_ollama_per_profile_both_answering_as_ollama():
    assert {name: s["profiles"] for name, s in OLLAMAS.items()} == {
        "ollama": ["cpu"],
        "ollama-gpu": ["gpu"],
    }
    aliases = SERVICES["ollama-gpu"]["networks"]["default"]["aliases"]
    assert aliases == ["ollama"]
    assert "http://ollama:11434" in SERVICES["gateway"]["entrypoint"]


def test_gpu_profile_reserves_nvidia_devices():
    (device,) = SERVICES["ollama-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert device == {"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}
    assert "deploy" not in SERVICES["ollama"]


def test_only_the_gateway_publishes_a_port():
    assert SERVICES["gateway"]["ports"] == ["${GATEWAY_PORT:-8000}:8000"]
    for name, service in OLLAMAS.items():
        assert "ports" not in service, name


def test_models_live_in_a_named_volume():
    assert "models" in COMPOSE["volumes"]
    for service in OLLAMAS.values():
        assert "models:/root/.ollama" in service["volumes"]


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_restarts_and_has_a_healthcheck(name: str):
    service = SERVICES[name]
    assert service["restart"] == "unless-stopped"
    test = service["healthcheck"]["test"]
    assert test[0] == "CMD" and "curl" not in test


def walk(node: object):
    """Every (key, value) pair of a YAML tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key), value
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def test_keys_come_from_the_environment_never_from_the_file():
    environment = SERVICES["gateway"]["environment"]
    assert environment["API_KEY"] == "${API_KEY:-}"
    for path in COMPOSE_FILES:
        for key, value in walk(load_yaml(path)):
            if re.search(r"API_KEY|_KEYS$", key) and isinstance(value, str):
                assert value.startswith("${"), f"{path.name}: {key}={value}"


def test_keys_file_override_mounts_a_secret_and_passes_it_to_the_gateway():
    override = load_yaml(COMPOSE_FILES[1])
    assert override["services"]["gateway"]["secrets"] == ["gateway_keys"]
    assert override["services"]["gateway"]["command"] == [
        "--keys-file",
        "/run/secrets/gateway_keys",
    ]
    assert override["secrets"]["gateway_keys"] == {"file": "./keys.txt"}


def test_env_example_documents_every_variable_compose_reads():
    example = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", example, re.MULTILINE))
    assert compose_variables(ROOT / "compose.yaml") <= documented
    assert re.search(r"^COMPOSE_PROFILES=cpu$", example, re.MULTILINE)
    assert re.search(r"^API_KEY=$", example, re.MULTILINE)  # no key shipped, not even a sample


def test_gateway_image_is_built_without_a_baked_model():
    assert SERVICES["gateway"]["build"]["args"] == {"MODEL_NAME": ""}
    assert SERVICES["gateway"]["init"] is True


def test_ollama_healthcheck_command_tells_up_from_down(container_env, ollama_server):
    test = SERVICES["ollama"]["healthcheck"]["test"]
    assert test[0] == "CMD"
    assert subprocess.run(test[1:], env=ollama_server, timeout=30).returncode == 0
    down = {**container_env, "OLLAMA_HOST": f"127.0.0.1:{free_port()}"}
    assert subprocess.run(test[1:], env=down, capture_output=True, timeout=30).returncode != 0
