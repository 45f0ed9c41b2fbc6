"""``ollama-gateway serve``: run the gateway with uvicorn.

Shutdown: on SIGTERM or SIGINT uvicorn stops accepting connections at once, lets requests in
flight (streams included) finish for up to ``shutdown_grace`` seconds, then cancels what is left
(clients of a cancelled stream see it end), closes the backend and the process exits 0.

``--workers N`` runs N processes (uvicorn's supervisor) sharing the port, for upstreams only (the
Ollama backend or a fleet without the embedded engine): each worker has its own scheduler,
rate-limit buckets and upstream in-flight counts, so ``parallel``, ``max_queue``, upstreams'
``max_in_flight`` and the per-key limits apply per worker (N times them in total).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

import click

from ollama_gateway.cli.options import given, settings_options


def load_settings(flags: dict[str, Any]):
    """Settings from flags over environment; a bad value is a usage error (exit 2)."""
    from pydantic import ValidationError

    from ollama_gateway.config import ConfigError
    from ollama_gateway.settings import Settings

    try:
        return Settings(**given(flags))
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
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


# How the supervisor hands the validated settings to its workers (spawned processes).
_WORKER_SETTINGS = "OLLAMA_GATEWAY__WORKER_SETTINGS"


def _settings_for_workers(settings) -> str:
    import orjson

    data = settings.model_dump(mode="json")
    data["api_keys"] = [key.get_secret_value() for key in settings.api_keys]
    data["config"] = None  # already read: the workers get its values, not the file again
    for upstream, dumped in zip(settings.upstreams, data["upstreams"], strict=True):
        dumped["headers"] = {k: v.get_secret_value() for k, v in upstream.headers.items()}
        key = upstream.api_key
        dumped["api_key"] = key.get_secret_value() if key is not None else None
    return orjson.dumps(data).decode()


def worker_app():
    """The app of one worker process (``--workers`` > 1): the supervisor's settings, rebuilt."""
    import orjson

    from ollama_gateway.app import create_app
    from ollama_gateway.observability.logs import configure_logging
    from ollama_gateway.settings import Settings

    settings = Settings(_env_file=None, **orjson.loads(os.environ[_WORKER_SETTINGS]))
    configure_logging(settings)
    return create_app(settings)


@click.command()
@settings_options()
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Worker processes sharing the port (Ollama backend only; limits apply per worker).",
)
def serve(workers: int, **flags: Any) -> None:
    """Run the gateway (flags override OLLAMA_GATEWAY_* environment variables and .env)."""
    try:
        import uvicorn

        from ollama_gateway.app import InsecureConfiguration, check_startup, create_app
        from ollama_gateway.http.auth import KeyFileError, KeyRing
        from ollama_gateway.observability.logs import configure_logging
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
    settings = asyncio.run(_prepare(settings))
    embedded = settings.backend == "embedded" or any(
        u.type == "embedded" for u in settings.upstreams
    )
    if workers > 1 and embedded:
        raise click.UsageError(
            "--workers > 1 needs upstreams (Ollama, OpenAI-compatible): each worker would load "
            "its own copy of an embedded model"
        )
    # uvicorn drains in-flight requests on SIGTERM/SIGINT, then re-raises the signal it caught:
    # these handlers make that final step a clean exit 0.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _exit_cleanly)
    common: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,
        "access_log": False,
        "timeout_graceful_shutdown": settings.shutdown_grace,
        "server_header": False,
    }
    if workers > 1:
        os.environ[_WORKER_SETTINGS] = _settings_for_workers(settings)
        uvicorn.run("ollama_gateway.cli.serve:worker_app", factory=True, workers=workers, **common)
    else:
        uvicorn.run(create_app(settings), **common)
