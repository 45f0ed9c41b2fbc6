"""Commands that talk to a running gateway: generate, list, ps, show, rm, cp.

``chat`` lives in :mod:`.chat_cmd`, ``pull`` in :mod:`.pull_cmd`, ``keys`` in :mod:`.keys_cmd`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from ollama_gateway.cli._remote import client_options, option_flags, request_options
from ollama_gateway.cli._render import (
    StreamPrinter,
    human_size,
    relative_time,
    short_digest,
    table,
)
from ollama_gateway.client import Client


def read_piped_stdin() -> str:
    """What was piped into the command, or ``""`` when stdin is a terminal."""
    stdin = sys.stdin
    if stdin.isatty():
        return ""
    return stdin.read()


@click.command()
@click.argument("prompt", nargs=-1)
@option_flags
@click.option(
    "-i",
    "--image",
    "images",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="An image for a vision model (repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the whole answer as one JSON object.")
@client_options
def generate(
    client: Client,
    prompt: tuple[str, ...],
    model: str | None,
    images: tuple[Path, ...],
    as_json: bool,
    **flags: Any,
) -> None:
    """Complete PROMPT and stream the answer to the terminal.

    Text piped on stdin comes before PROMPT: `cat notes.txt | ollama-gateway generate
    "Summarize:"`. Reasoning (--think) goes dimmed to stderr, so stdout holds the answer.
    """
    text = " ".join(part for part in (read_piped_stdin().strip(), " ".join(prompt)) if part)
    if not text.strip():
        raise click.UsageError("no prompt: give one as an argument or pipe it on stdin")
    options = request_options(**flags)
    if images:
        options["images"] = list(images)
    if as_json:
        response = client.generate(text, model, **options)
        click.echo(json.dumps(response.to_dict(), ensure_ascii=False))
        return
    printer = StreamPrinter()
    try:
        for chunk in client.generate(text, model, stream=True, **options):
            printer.write(chunk.response, chunk.thinking)
    finally:  # an error after some text: end the line before the message
        printer.finish()


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the server's JSON.")
@client_options
def list_models(client: Client, as_json: bool) -> None:
    """List the models the gateway has."""
    response = client.list()
    if as_json:
        click.echo(json.dumps(response.to_dict()))
        return
    rows = [
        [
            m.name or m.model,
            short_digest(m.digest),
            human_size(m.size),
            relative_time(m.modified_at),
        ]
        for m in response.models
    ]
    click.echo(table(["NAME", "ID", "SIZE", "MODIFIED"], rows))


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the server's JSON.")
@client_options
def ps(client: Client, as_json: bool) -> None:
    """List the models loaded now, with their memory and unload time."""
    response = client.ps()
    if as_json:
        click.echo(json.dumps(response.to_dict()))
        return
    rows = []
    for m in response.models:
        rows.append(
            [
                m.name or m.model,
                short_digest(m.digest),
                human_size(m.size),
                _processor(m.size, m.size_vram),
                str(m.context_length or "-"),
                relative_time(m.expires_at),
            ]
        )
    click.echo(table(["NAME", "ID", "SIZE", "PROCESSOR", "CONTEXT", "UNTIL"], rows))


def _processor(size: int | None, size_vram: int | None) -> str:
    if not size:
        return "-"
    gpu = round(100 * (size_vram or 0) / size)
    if gpu <= 0:
        return "100% CPU"
    if gpu >= 100:
        return "100% GPU"
    return f"{100 - gpu}%/{gpu}% CPU/GPU"


SHOW_FIELDS = ("modelfile", "parameters", "template", "system", "license")


@click.command()
@click.argument("model")
@click.option(
    "--field",
    type=click.Choice(SHOW_FIELDS),
    help="Print only this part (the modelfile, parameters, template...).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the server's JSON.")
@client_options
def show(client: Client, model: str, field: str | None, as_json: bool) -> None:
    """Show MODEL's details, capabilities, parameters and license."""
    response = client.show(model)
    if as_json:
        click.echo(json.dumps(response.to_dict()))
        return
    if field:
        click.echo(getattr(response, field) or "")
        return
    info = response.model_info or {}
    arch = info.get("general.architecture") or (response.details and response.details.family)
    details = response.details
    rows: list[tuple[str, object]] = [
        ("architecture", arch),
        ("parameters", details and details.parameter_size),
        ("context length", info.get(f"{arch}.context_length")),
        ("embedding length", info.get(f"{arch}.embedding_length")),
        ("quantization", details and details.quantization_level),
        ("format", details and details.format),
    ]
    _section("Model", [[name, str(value)] for name, value in rows if value])
    _section("Capabilities", [[c] for c in response.capabilities or []])
    params = [line.split(None, 1) for line in (response.parameters or "").splitlines()]
    _section("Parameters", [p if len(p) == 2 else [*p, ""] for p in params if p])
    license_lines = (response.license or "").strip().splitlines()
    _section("License", [[line] for line in license_lines[:2]])


def _section(title: str, rows: list[list[str]]) -> None:
    if not rows:
        return
    click.echo(f"  {title}")
    for line in table([""] * len(rows[0]), rows).splitlines()[1:]:
        click.echo(f"    {line}")
    click.echo("")


@click.command()
@click.argument("models", nargs=-1, required=True)
@client_options
def rm(client: Client, models: tuple[str, ...]) -> None:
    """Delete MODELS from the gateway."""
    for model in models:
        client.delete(model)
        click.echo(f"deleted '{model}'")


@click.command()
@click.argument("source")
@click.argument("destination")
@client_options
def cp(client: Client, source: str, destination: str) -> None:
    """Copy SOURCE to a new model name DESTINATION."""
    client.copy(source, destination)
    click.echo(f"copied '{source}' to '{destination}'")
