"""``ollama-gateway chat``: a conversation in the terminal, or over piped stdin lines."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any, TextIO

import click

from ollama_gateway.cli._remote import client_options, option_flags, request_options
from ollama_gateway.cli._render import StreamPrinter
from ollama_gateway.client import Client

HELP = """Available commands:
  /clear   forget the conversation so far
  /bye     leave (so do Ctrl-D and /exit)
  /?       this help"""


def _lines(stdin: TextIO) -> Iterator[str]:
    """The user's lines: prompted with ``>>>`` on a terminal, read plainly from a pipe."""
    if stdin.isatty():
        with contextlib.suppress(ImportError):  # no readline on Windows
            import readline  # noqa: F401  (line editing and history for input())
        while True:
            try:
                yield input(">>> ")
            except EOFError:
                click.echo("")
                return
            except KeyboardInterrupt:
                click.echo("\nUse Ctrl + d or /bye to exit.", err=True)
    else:
        for line in stdin:
            yield line.rstrip("\r\n")


@click.command()
@option_flags
@client_options
def chat(client: Client, model: str | None, system: str | None, **flags: Any) -> None:
    """Chat with a model: each line you type is a turn, answers stream back.

    Type /bye (or Ctrl-D) to leave, /clear to forget the conversation. Lines piped on stdin are
    read as turns one after another, so `printf 'hi\\nand now?\\n' | ollama-gateway chat` works.
    """
    options = request_options(system=None, **flags)
    start = [{"role": "system", "content": system}] if system else []
    messages: list[dict[str, Any]] = list(start)
    stdin = sys.stdin
    if stdin.isatty():
        click.echo("Type /? for help, /bye to leave.", err=True)
    for line in _lines(stdin):
        command = line.strip()
        if not command:
            continue
        if command in ("/bye", "/exit", "/quit"):
            break
        if command == "/clear":
            messages = list(start)
            click.echo("Cleared the conversation.", err=True)
            continue
        if command in ("/?", "/help"):
            click.echo(HELP, err=True)
            continue
        messages.append({"role": "user", "content": line})
        try:
            reply = _turn(client, messages, model, options)
        except KeyboardInterrupt:
            if not stdin.isatty():
                raise
            messages.pop()  # Ctrl-C stops this answer; the conversation goes on without it
            click.echo("(stopped)", err=True)
            continue
        messages.append({"role": "assistant", "content": reply})


def _turn(client: Client, messages: list[dict[str, Any]], model: str | None, options: Any) -> str:
    """Stream one answer to the terminal and return its text for the history."""
    printer = StreamPrinter()
    parts: list[str] = []
    try:
        for chunk in client.chat(messages, model, stream=True, **options):
            printer.write(chunk.message.content, chunk.message.thinking)
            parts.append(chunk.message.content)
    finally:
        printer.finish()
    click.echo("")
    return "".join(parts)
