"""The ``ollama-gateway`` command line: one click group, one module per family of commands."""

from __future__ import annotations

import click

from ollama_gateway import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ollama-gateway")
def main() -> None:
    """A private, secured, fast LLM API in front of Ollama or an embedded llama.cpp engine."""


# Command families register here, one line each.
from ollama_gateway.cli.run_cmd import healthcheck, run  # noqa: E402
from ollama_gateway.cli.serve import serve  # noqa: E402

main.add_command(serve)
main.add_command(run)
main.add_command(healthcheck)
