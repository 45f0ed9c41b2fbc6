"""The ``ollama-gateway`` command line: one click group, one module per family of commands."""

from __future__ import annotations

import click

from ollama_gateway import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ollama-gateway")
def main() -> None:
    """A private, secured, fast LLM API in front of Ollama or an embedded llama.cpp engine."""


# Command families register here, one line each.
from ollama_gateway.cli import (  # noqa: E402
    accounts_cmd,
    chat_cmd,
    client_cmds,
    create_cmd,
    keys_cmd,
    pull_cmd,
)
from ollama_gateway.cli.run_cmd import healthcheck, run  # noqa: E402

try:
    from ollama_gateway.cli.serve import serve
except ImportError as exc:  # the base install (no server extras) keeps its client commands
    from ollama_gateway.cli._remote import unavailable

    serve = unavailable("serve", exc)

main.add_command(serve)
main.add_command(run)
main.add_command(healthcheck)
main.add_command(client_cmds.generate)
main.add_command(chat_cmd.chat)
main.add_command(pull_cmd.pull)
main.add_command(create_cmd.create)
main.add_command(client_cmds.list_models)
main.add_command(client_cmds.list_models, name="ls")
main.add_command(client_cmds.ps)
main.add_command(client_cmds.show)
main.add_command(client_cmds.rm)
main.add_command(client_cmds.cp)
main.add_command(keys_cmd.keys)
for _command in (
    accounts_cmd.create,
    accounts_cmd.list_keys,
    accounts_cmd.show,
    accounts_cmd.update,
    accounts_cmd.revoke,
    accounts_cmd.rotate,
):
    keys_cmd.keys.add_command(_command)
main.add_command(accounts_cmd.usage)
main.add_command(accounts_cmd.db)
