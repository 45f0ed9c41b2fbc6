"""Every ``ollama-gateway`` command that an image, the compose files or a Kubernetes manifest runs
exists in the command line, with those flags (parsed by click exactly as at run time)."""

from __future__ import annotations

import re

import click
import pytest

from ollama_gateway.cli import main
from ollama_gateway.cli.run_cmd import serve_argv
from tests.deploy.manifests import (
    COMPOSE_FILES,
    DOCKERFILES,
    K8S_BASE,
    K8S_OVERLAYS,
    Invocation,
    compose_invocations,
    dockerfile_invocations,
    k8s_documents,
    k8s_invocations,
    load_yaml,
)


def parse(args: list[str]) -> tuple[click.Command, dict]:
    """Parse ``ollama-gateway ARGS`` with the real CLI, without running it."""
    root = click.Context(main, info_name="ollama-gateway")
    name, *rest = args
    command = main.get_command(root, name)
    if command is None:
        raise click.UsageError(f"no such command {name!r}")
    with command.make_context(name, rest, parent=root) as ctx:
        params = dict(ctx.params)
    if name == "run":  # what `run` passes on to `serve` must parse too
        argv = serve_argv(
            "http://127.0.0.1:11434",
            params["host"],
            params["port"],
            params["model"],
            params["serve_args"],
        )
        parse(argv)
    return command, params


def all_invocations() -> list[Invocation]:
    found: list[Invocation] = []
    for path in DOCKERFILES:
        found += dockerfile_invocations(path)
    base = load_yaml(COMPOSE_FILES[0])
    found += compose_invocations(COMPOSE_FILES[0])
    for path in COMPOSE_FILES[1:]:
        found += compose_invocations(path, base)
    for directory in (K8S_BASE, *K8S_OVERLAYS):
        found += k8s_invocations(k8s_documents(directory))
    return found


INVOCATIONS = all_invocations()


def test_the_deployment_files_run_the_commands_we_expect():
    commands = {(re.sub(r":\d+", "", inv.where), inv.args[0]) for inv in INVOCATIONS}
    assert commands == {
        ("Dockerfile RUN", "run"),
        ("Dockerfile HEALTHCHECK", "healthcheck"),
        ("Dockerfile ENTRYPOINT+CMD", "run"),
        ("Dockerfile.embedded RUN", "pull"),
        ("Dockerfile.embedded HEALTHCHECK", "healthcheck"),
        ("Dockerfile.embedded ENTRYPOINT+CMD", "serve"),
        ("compose.yaml services.gateway", "run"),
        ("compose.yaml services.gateway.healthcheck", "healthcheck"),
        ("compose.yaml services.gateway-replica", "run"),
        ("compose.yaml services.gateway-replica.healthcheck", "healthcheck"),
        ("keys-file.yaml services.gateway", "run"),
        ("keys-file.yaml services.gateway.healthcheck", "healthcheck"),
        ("gateway-deployment.yaml Deployment/ollama-gateway/gateway", "serve"),
    }


@pytest.mark.parametrize("invocation", INVOCATIONS, ids=lambda inv: inv.where)
def test_command_exists_with_its_flags(invocation: Invocation):
    parse(invocation.args)


@pytest.mark.parametrize(
    "args",
    [
        ["no-such-command"],
        ["healthcheck", "--no-such-flag"],
        ["run", "--with-ollama", "--no-such-serve-flag", "x"],
        ["run", "--with-ollama", "--port", "eighty"],
    ],
)
def test_the_check_rejects_what_the_cli_would_reject(args: list[str]):
    with pytest.raises(click.ClickException):
        parse(args)


def test_the_container_entry_point_is_the_supervisor_with_ollama():
    entry = [inv for inv in INVOCATIONS if inv.where == "Dockerfile ENTRYPOINT+CMD"]
    assert [inv.args for inv in entry] == [["run", "--with-ollama"]]
