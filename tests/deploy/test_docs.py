"""docs/docker.md stays true: the commands it gives use files that exist and flags the CLI has."""

from __future__ import annotations

import re
import shlex

import pytest

from tests.deploy.manifests import ROOT, after_program, dockerfile_instructions
from tests.deploy.test_cli_commands import parse

DOC = (ROOT / "docs" / "docker.md").read_text()
BLOCKS = re.findall(r"```bash\n(.*?)```", DOC, re.DOTALL)
LINES = [line.strip() for block in BLOCKS for line in block.splitlines() if line.strip()]
DOCKER_RUN_VALUE_OPTIONS = {"-p", "-e", "-v", "--name", "--gpus", "--env", "--volume", "--publish"}


def entrypoint(dockerfile: str) -> list[str]:
    (ins,) = [i for i in dockerfile_instructions(ROOT / dockerfile) if i.keyword == "ENTRYPOINT"]
    argv = ins.exec_form()
    assert argv is not None
    args = after_program(argv)
    assert args is not None
    return args


def docker_runs() -> list[tuple[str, list[str]]]:
    """(image, arguments after it) of every `docker run` in the docs."""
    runs = []
    for line in LINES:
        if not line.startswith("docker run "):
            continue
        words = shlex.split(line.split("#")[0])[2:]
        while words[0].startswith("-"):
            option = words.pop(0)
            if option in DOCKER_RUN_VALUE_OPTIONS:
                words.pop(0)
        runs.append((words[0], words[1:]))
    return runs


@pytest.mark.parametrize(
    "text",
    [
        "docker build --build-arg MODEL_NAME=llama2 -t your-image-name .",
        "At least 8 GB RAM recommended",
        "--gpus all",
        "COMPOSE_PROFILES=gpu docker compose up",
        "kubectl apply -k deploy/k8s/base",
        "kubectl apply -k deploy/k8s/overlays/gpu",
        "-DGGML_CUDA=on",
    ],
)
def test_the_docs_give_the_essential_commands(text: str):
    assert text in DOC


def test_every_docker_run_passes_flags_the_entry_point_accepts():
    runs = docker_runs()
    assert len(runs) >= 5
    for image, args in runs:
        dockerfile = "Dockerfile.embedded" if "embedded" in image else "Dockerfile"
        parse([*entrypoint(dockerfile), *args])


def test_every_file_the_commands_name_exists():
    for line in LINES:
        for match in re.finditer(r"(?:-k|-f) (\S+)", line):
            path = match.group(1)
            if path.startswith("deploy/") or path.startswith("compose") or "Dockerfile" in path:
                assert (ROOT / path).exists(), line
