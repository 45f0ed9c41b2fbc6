"""``ollama-gateway serve``: run the gateway with uvicorn."""

from __future__ import annotations

import asyncio
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


async def _prepare(settings):
    """Pick the backend once (``auto`` probes Ollama) and make sure the embedded one has its
    default model, so that problems are one clear line before the server starts."""
    from ollama_gateway.backends.factory import choose_backend
    from ollama_gateway.models.bootstrap import ModelUnavailable, ensure_default_model

    backend = await choose_backend(settings)
    settings = settings.model_copy(update={"backend": backend})
    if backend == "embedded":
        try:
            await ensure_default_model(settings)
        except ModelUnavailable as exc:
            raise click.ClickException(str(exc)) from None
    return settings


def _exit_cleanly(signum: int, frame: object) -> None:
    sys.exit(0)


@click.command()
@settings_options()
def serve(**flags: Any) -> None:
    """Run the gateway (flags override OLLAMA_GATEWAY_* environment variables and .env)."""
    try:
        import uvicorn

        from ollama_gateway.app import InsecureConfiguration, check_startup, create_app
        from ollama_gateway.auth import KeyFileError, KeyRing
        from ollama_gateway.logs import configure_logging
    except ImportError as exc:
        raise click.ClickException(
            f"the server is not installed ({exc.name}): pip install 'ollama-gateway[server]'"
        ) from None
    settings = load_settings(flags)
    configure_logging(settings)
    try:
        check_startup(settings, KeyRing.from_settings(settings))
    except (InsecureConfiguration, KeyFileError) as exc:
        raise click.UsageError(str(exc)) from None
    app = create_app(asyncio.run(_prepare(settings)))
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
