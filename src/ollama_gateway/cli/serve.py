"""``ollama-gateway serve``: run the gateway with uvicorn."""

from __future__ import annotations

import signal
import sys
from typing import Any

import click

from ollama_gateway.cli.options import given, settings_options


def load_settings(flags: dict[str, Any]):
    """Settings from flags over environment; a bad value is a usage error (exit 2)."""
    from pydantic import ValidationError

    from ollama_gateway.settings import Settings

    try:
        return Settings(**given(flags))
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise click.UsageError(f"invalid setting {where}: {first.get('msg')}") from None


def _exit_cleanly(signum: int, frame: object) -> None:
    sys.exit(0)


@click.command()
@settings_options()
def serve(**flags: Any) -> None:
    """Run the gateway (flags override OLLAMA_GATEWAY_* environment variables and .env)."""
    try:
        import uvicorn

        from ollama_gateway.app import InsecureConfiguration, create_app
        from ollama_gateway.auth import KeyFileError
        from ollama_gateway.logs import configure_logging
    except ImportError as exc:
        raise click.ClickException(
            f"the server is not installed ({exc.name}): pip install 'ollama-gateway[server]'"
        ) from None
    settings = load_settings(flags)
    configure_logging(settings)
    try:
        app = create_app(settings)
    except (InsecureConfiguration, KeyFileError) as exc:
        raise click.UsageError(str(exc)) from None
    # uvicorn drains in-flight requests on SIGTERM/SIGINT, then re-raises the signal it caught:
    # these handlers make that final step a clean exit 0.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _exit_cleanly)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=settings.shutdown_grace,
        server_header=False,
    )
