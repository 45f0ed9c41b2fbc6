"""``ollama-gateway create NAME -f Modelfile``: a model made on the gateway from a Modelfile.

As ``ollama create``: the Modelfile's ``FROM`` is a model name, or a local GGUF file (relative
to the Modelfile) that is uploaded as a blob first (``POST /api/blobs/<digest>``, skipped when
the server has it); then ``/api/create`` gets the template, system prompt, parameters,
messages and licenses, and its status lines are shown as they come.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import cast

import click

from ollama_gateway.cli._remote import client_options
from ollama_gateway.cli.pull_cmd import show_progress
from ollama_gateway.client import Client, ProgressResponse
from ollama_gateway.errors import BadRequest
from ollama_gateway.modelfile import MAX_MODELFILE_CHARS, parse_modelfile


def _local_file(base: Path, name: str) -> Path | None:
    """``FROM``'s file, when it names one (``~`` expanded, relative to the Modelfile)."""
    path = Path(name).expanduser()
    if not path.is_absolute():
        path = base / path
    return path if path.is_file() else None


@click.command()
@click.argument("name")
@click.option(
    "-f",
    "--file",
    "modelfile",
    type=click.Path(dir_okay=False, path_type=Path),
    default="Modelfile",
    show_default=True,
    help="The Modelfile.",
)
@click.option("-q", "--quantize", help="Quantize the weights, e.g. q4_K_M or q8_0.")
@client_options
def create(client: Client, name: str, modelfile: Path, quantize: str | None) -> None:
    """Create model NAME from a Modelfile (FROM, TEMPLATE, SYSTEM, PARAMETER, MESSAGE, LICENSE)."""
    try:
        with open(modelfile, encoding="utf-8") as f:
            text = f.read(MAX_MODELFILE_CHARS + 1)
    except OSError as exc:
        raise click.ClickException(f"cannot read {modelfile}: {exc.strerror or exc}") from None
    try:
        parsed = parse_modelfile(text)
    except BadRequest as exc:
        raise click.ClickException(f"{modelfile}: {exc.message}") from None
    fields: dict = {
        "template": parsed.template,
        "system": parsed.system,
        "parameters": parsed.parameters or None,
        "messages": parsed.messages or None,
        "license": parsed.license or None,
        "quantize": quantize,
    }
    local = _local_file(modelfile.resolve().parent, parsed.from_)
    if local is not None:
        click.echo(f"uploading {local.name}", err=True)
        fields["files"] = {local.name: client.create_blob(local)}
    else:
        fields["from_"] = parsed.from_
    # stream=True: an iterator of progress events (the client has no overload for create yet)
    events = cast("Iterator[ProgressResponse]", client.create(name, stream=True, **fields))
    status = show_progress(p.to_dict() for p in events)
    click.echo(status or "done")
