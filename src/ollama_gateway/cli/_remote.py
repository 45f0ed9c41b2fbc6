"""What every command that talks to a gateway shares: its options, its client, its errors.

Exit codes: 0 done; 1 the server refused or could not be reached (one line on stderr, no
traceback); 2 the command line was wrong (click's usage errors); 130 interrupted.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import click

from ollama_gateway.client import API_KEY_ENV, URL_ENV, Client, ClientError

F = TypeVar("F", bound=Callable[..., Any])


def client_options(command: F) -> F:
    """Add ``--url``, ``--api-key`` and ``--timeout``; the command receives ``client``."""

    @click.option(
        "--url",
        envvar=URL_ENV,
        show_envvar=True,
        metavar="URL",
        help="The gateway's address [default: http://127.0.0.1:8000].",
    )
    @click.option(
        "--api-key",
        envvar=API_KEY_ENV,
        show_envvar=True,
        metavar="KEY",
        help="API key, sent as a Bearer token (prefer the environment variable).",
    )
    @click.option(
        "--timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=600.0,
        show_default=True,
        help="Seconds to wait for the server's next byte.",
    )
    @functools.wraps(command)
    def wrapper(url: str | None, api_key: str | None, timeout: float, **kwargs: Any) -> Any:
        try:
            client = Client(url, api_key=api_key or "", timeout=_timeout(timeout))
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="'--url'") from None
        with client, errors_as_exit():
            return command(client=client, **kwargs)

    return wrapper  # type: ignore[return-value]


def _timeout(seconds: float) -> Any:
    import httpx  # the client's own dependency; imported here to keep the module list short

    return httpx.Timeout(seconds, connect=min(seconds, 10.0))


@contextlib.contextmanager
def errors_as_exit() -> Iterator[None]:
    """Client errors become one line on stderr and exit 1; Ctrl-C exits 130."""
    try:
        yield
    except ClientError as exc:
        raise click.ClickException(" ".join(str(exc).split())) from None  # one line, always
    except KeyboardInterrupt:
        click.echo("", err=True)
        raise click.exceptions.Exit(130) from None
    except BrokenPipeError:  # `ollama-gateway generate ... | head -1`: the reader has enough
        _silence_stdout()
        raise click.exceptions.Exit(0) from None


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # not a real file (tests): nothing to flush
        pass


def parse_options(pairs: tuple[str, ...]) -> dict[str, Any] | None:
    """``-o temperature=0 -o stop='["\\n"]'``: values are read as JSON when they parse.

    >>> parse_options(("temperature=0.2", "stop=[\\"x\\"]", "mirostat_tau=abc"))
    {'temperature': 0.2, 'stop': ['x'], 'mirostat_tau': 'abc'}
    >>> parse_options(()) is None
    True
    """
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="'--option'")
        try:
            options[key.strip()] = json.loads(value)
        except ValueError:
            options[key.strip()] = value
    return options or None


def option_flags(command: F) -> F:
    """The generation options ``generate`` and ``chat`` share."""
    for decorator in reversed(
        (
            click.option("-m", "--model", help="Model name [default: the gateway's default]."),
            click.option("-s", "--system", help="System prompt."),
            click.option(
                "--think/--no-think",
                default=None,
                help="Ask a reasoning model to think first (shown dimmed) or not to.",
            ),
            click.option(
                "--format",
                "format_",
                metavar="json|SCHEMA",
                help="Answer in JSON: 'json', or a JSON schema the answer must follow.",
            ),
            click.option(
                "-o",
                "--option",
                "option_pairs",
                multiple=True,
                metavar="KEY=VALUE",
                help="Model option, e.g. -o temperature=0 -o num_predict=64 (repeatable).",
            ),
            click.option("--keep-alive", help="How long the model stays loaded, e.g. 5m, 0, -1."),
        )
    ):
        command = decorator(command)
    return command


def request_options(
    *,
    system: str | None,
    think: bool | None,
    format_: str | None,
    option_pairs: tuple[str, ...],
    keep_alive: str | None,
) -> dict[str, Any]:
    """The keyword arguments for ``Client.generate``/``chat`` from the shared flags."""
    options: dict[str, Any] = {
        "system": system,
        "think": think,
        "format": _format(format_),
        "options": parse_options(option_pairs),
        "keep_alive": _keep_alive(keep_alive),
    }
    return {key: value for key, value in options.items() if value is not None}


def _format(value: str | None) -> str | dict[str, Any] | None:
    """``json`` stays text; a value that looks like a JSON object is sent as a schema."""
    if value is None or not value.lstrip().startswith("{"):
        return value
    try:
        schema = json.loads(value)
    except ValueError as exc:
        raise click.BadParameter(f"not a JSON schema: {exc}", param_hint="'--format'") from None
    return schema if isinstance(schema, dict) else value


def _keep_alive(value: str | None) -> float | str | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return value


def unavailable(name: str, error: ImportError) -> click.Command:
    """A stand-in for a command whose dependencies are not installed: it says what to install."""

    def explain(args: tuple[str, ...]) -> None:
        raise click.ClickException(
            f"the server is not installed ({error.name or error}): "
            "pip install 'ollama-gateway[server]'"
        )

    return click.Command(
        name,
        callback=explain,
        params=[click.Argument(["args"], nargs=-1, type=click.UNPROCESSED)],
        context_settings={"ignore_unknown_options": True, "help_option_names": []},
        help="Run the gateway (needs: pip install 'ollama-gateway[server]').",
    )
