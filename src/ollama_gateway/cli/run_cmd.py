"""``ollama-gateway run`` (the container's supervisor) and ``ollama-gateway healthcheck``."""

from __future__ import annotations

import logging
import shlex
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import click

# Flags the supervisor decides for ``serve``; passing them through would contradict it.
_OWNED_SERVE_FLAGS = ("--backend", "--ollama-url")


def _self_command() -> list[str]:
    """How to start this same ``ollama-gateway``: the script beside our interpreter, if any."""
    script = Path(sys.executable).with_name("ollama-gateway")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "ollama_gateway"]


def serve_argv(
    ollama_url: str, host: str, port: int | None, model: str | None, extra: Sequence[str]
) -> list[str]:
    """The ``serve`` command line that ``run`` starts the gateway with."""
    argv = ["serve", "--backend", "ollama", "--ollama-url", ollama_url, "--host", host]
    if port is not None:
        argv += ["--port", str(port)]
    if model:
        argv += ["--model", model]
    return [*argv, *extra]


def _default_model() -> str:
    from ollama_gateway.settings import Settings

    return Settings().model


@click.command(
    context_settings={"ignore_unknown_options": True},
    epilog="Any other flag is passed to `ollama-gateway serve`, e.g. --api-key, --keys-file, "
    "--cors-origin.",
)
@click.option(
    "--with-ollama", is_flag=True, help="Start `ollama serve` here and supervise it (containers)."
)
@click.option(
    "--ollama-bin", default="ollama", show_default=True, help="The Ollama executable to start."
)
@click.option(
    "--ollama-host",
    envvar="OLLAMA_HOST",
    default="127.0.0.1:11434",
    show_default=True,
    help="Address the started Ollama listens on (env OLLAMA_HOST); keep it on loopback.",
)
@click.option(
    "--ollama-url",
    default=None,
    help="Use an Ollama that runs elsewhere (instead of --with-ollama): wait for it, pull the "
    "model into it, then serve.",
)
@click.option("--model", default=None, help="Default model (else MODEL_NAME / settings).")
@click.option(
    "--pull/--no-pull", default=True, show_default=True, help="Pull the model if missing."
)
@click.option("--pull-only", is_flag=True, help="Pull the model, stop Ollama and exit (builds).")
@click.option(
    "--ready-timeout", default=120.0, show_default=True, help="Seconds to wait for Ollama."
)
@click.option("--pull-timeout", default=3600.0, show_default=True, help="Seconds a pull may take.")
@click.option(
    "--stop-timeout",
    default=35.0,
    show_default=True,
    help="Seconds each child gets after SIGTERM before SIGKILL.",
)
@click.option("--host", default="0.0.0.0", show_default=True, help="Address the gateway binds.")
@click.option("--port", type=int, default=None, help="Port the gateway binds (default 8000).")
@click.option(
    "--gateway-cmd",
    default=None,
    help="Command that runs the gateway, `serve` and its flags appended (default: this "
    "ollama-gateway).",
)
@click.argument("serve_args", nargs=-1, type=click.UNPROCESSED)
def run(
    with_ollama: bool,
    ollama_bin: str,
    ollama_host: str,
    ollama_url: str | None,
    model: str | None,
    pull: bool,
    pull_only: bool,
    ready_timeout: float,
    pull_timeout: float,
    stop_timeout: float,
    host: str,
    port: int | None,
    gateway_cmd: str | None,
    serve_args: tuple[str, ...],
) -> None:
    """Run the gateway under a supervisor, with Ollama beside it (the containers' entry point).

    With --with-ollama: start `ollama serve` on loopback, wait until it answers, pull the model
    if it is missing, start `ollama-gateway serve --backend ollama`, forward SIGTERM/SIGINT to
    both, and exit non-zero as soon as either dies.
    """
    from ollama_gateway.cli.supervisor import SupervisorConfig, run_supervisor
    from ollama_gateway.core.hosts import parse_ollama_host

    if with_ollama == (ollama_url is not None):
        raise click.UsageError("give exactly one of --with-ollama and --ollama-url")
    for arg in serve_args:
        if arg.split("=", 1)[0] in _OWNED_SERVE_FLAGS:
            raise click.UsageError(f"`run` sets {arg.split('=', 1)[0]} itself; leave it out")
    try:
        url = parse_ollama_host(ollama_host if with_ollama else ollama_url)
        resolved_model = model or _default_model()
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise click.UsageError(str(exc)) from None

    gateway = shlex.split(gateway_cmd) if gateway_cmd else _self_command()
    argv = [*gateway, *serve_argv(url, host, port, model, serve_args)]

    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    config = SupervisorConfig(
        gateway_argv=argv,
        ollama_url=url,
        ollama_argv=[ollama_bin, "serve"] if with_ollama else None,
        ollama_env={"OLLAMA_HOST": ollama_host},
        model=resolved_model,
        pull=pull,
        pull_only=pull_only,
        ready_timeout=ready_timeout,
        pull_timeout=pull_timeout,
        stop_timeout=stop_timeout,
    )
    sys.exit(run_supervisor(config))


def _default_port() -> int:
    try:
        from ollama_gateway.settings import Settings
    except ImportError:  # a client-only install
        return 8000
    return Settings().port


@click.command()
@click.option("--url", default=None, help="URL to probe [default: http://127.0.0.1:PORT/health].")
@click.option("--port", type=int, default=None, help="The gateway's port (default: settings).")
@click.option("--timeout", default=5.0, show_default=True, help="Seconds to wait for an answer.")
def healthcheck(url: str | None, port: int | None, timeout: float) -> None:
    """Exit 0 if the gateway's /health answers 200, else 1 (Docker HEALTHCHECK; needs no curl)."""
    if url is None:
        url = f"http://127.0.0.1:{port or _default_port()}/health"
    if not url.startswith(("http://", "https://")):
        raise click.UsageError("--url must be an http(s) URL")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via HTTP_PROXY
    try:
        with opener.open(url, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (OSError, ValueError) as exc:
        click.echo(f"unhealthy: {url}: {exc}", err=True)
        sys.exit(1)
    if status != 200:
        click.echo(f"unhealthy: {url} answered {status}", err=True)
        sys.exit(1)
    click.echo("healthy")
