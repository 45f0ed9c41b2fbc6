"""``ollama-gateway serve``: run the gateway with uvicorn.

Shutdown: on SIGTERM or SIGINT uvicorn stops accepting connections at once, lets requests in
flight (streams included) finish for up to ``shutdown_grace`` seconds, then cancels what is left
(clients of a cancelled stream see it end), closes the backend and the process exits 0.

When the grace period ends, streams still running get an in-band error and end, and requests
still waiting answer 503 (:mod:`ollama_gateway.http.shutdown`). A default model that cannot be
loaded stops the server: it exits 1 with the reason.

``--workers N`` runs N processes (uvicorn's supervisor) sharing the port, for upstreams only (the
Ollama backend or a fleet without the embedded engine): each worker has its own scheduler,
rate-limit buckets and upstream in-flight counts, so ``parallel``, ``max_queue``, upstreams'
``max_in_flight`` and the per-key limits apply per worker (N times them in total) unless
``--redis-url`` shares the key limits. Workers get the keys as SHA-256 digests, never in
plaintext: the settings they are handed hold none, and the plaintext key variables (``API_KEY``,
``OLLAMA_GATEWAY_API_KEYS``) are removed from the environment they inherit. Upstreams'
credentials are handed to them as they must be sent.

``X-Forwarded-For`` and ``X-Forwarded-Proto`` are believed only from ``--trusted-proxies``
(uvicorn's own default, 127.0.0.1, is not used): otherwise any client could pick the address that
per-address rate limits count.
"""

from __future__ import annotations

import asyncio
import gc
import logging
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
    if backend != "embedded" and settings.model_spec.path is not None:
        raise click.UsageError(
            f"--model {settings.model} is a file: files are served by the embedded backend "
            "(--backend embedded); Ollama serves the models of its own store"
        )
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
# Environment variables that may hold plaintext keys: workers must not inherit them.
_KEY_VARIABLES = ("API_KEY", "OLLAMA_GATEWAY_API_KEYS")


def _settings_for_workers(settings) -> str:
    """The settings as JSON for the workers: the keys as SHA-256 digests, never in plaintext."""
    import orjson

    from ollama_gateway.http.auth import digest_of

    data = settings.model_dump(mode="json", exclude={"api_keys"})
    data["api_key_digests"] = [digest_of(k.get_secret_value()).hex() for k in settings.api_keys]
    for name in ("database_url", "redis_url"):  # connection URLs, not API keys
        secret = getattr(settings, name)
        data[name] = secret.get_secret_value() if secret is not None else None
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
    from ollama_gateway.http.auth import KeyRing
    from ollama_gateway.observability.logs import configure_logging
    from ollama_gateway.settings import Settings

    data = orjson.loads(os.environ[_WORKER_SETTINGS])
    digests = [bytes.fromhex(d) for d in data.pop("api_key_digests")]
    settings = Settings(_env_file=None, **data, api_keys=[])
    configure_logging(settings)
    app = create_app(settings, keyring=KeyRing.from_settings(settings, digests=digests))
    _freeze_startup_objects()
    return app


def _freeze_startup_objects() -> None:
    """Leave what start-up made (modules, the app, its routes and models: ~120,000 objects)
    out of the garbage collector's full passes, which would otherwise walk them all every few
    thousand requests (about 0.3 s each here, a stall for every request in flight). Python's
    documented use of :func:`gc.freeze`."""
    gc.collect()
    gc.freeze()


class WorkerCount(click.ParamType):
    """``--workers``: a number of processes (1-64), or ``auto``."""

    name = "N|auto"

    def convert(self, value: Any, param: Any, ctx: Any) -> int | None:
        if value is None or value == "auto":
            return None
        try:
            count = int(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number or 'auto'", param, ctx)
        if not 1 <= count <= 64:
            self.fail(f"{count} is not between 1 and 64", param, ctx)
        return count


def auto_workers(embedded: bool, shared_limits: bool, cpus: int | None) -> int:
    """``--workers auto``: one process per CPU (at most 8) when the gateway only forwards to
    upstreams and its limits are shared through Redis; otherwise one (an embedded model is
    loaded once; without Redis each process would count limits on its own).

    Not the default: the gateway often shares its machine with the model server, whose CPUs
    it should not take unasked; one process is what ``serve`` runs unless told."""
    if embedded or not shared_limits:
        return 1
    return max(1, min(cpus or 1, 8))


@click.command()
@settings_options()
@click.option(
    "--workers",
    type=WorkerCount(),
    default="1",
    show_default=True,
    help="Worker processes sharing the port (upstreams only; without --redis-url limits apply "
    "per worker). auto: one per CPU (at most 8) with upstreams and --redis-url, else 1.",
)
def serve(workers: int | None, **flags: Any) -> None:
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
    if workers is None:
        workers = auto_workers(embedded, settings.redis_url is not None, os.cpu_count())
    if workers > 1 and embedded:
        raise click.UsageError(
            "--workers > 1 needs upstreams (Ollama, OpenAI-compatible): each worker would load "
            "its own copy of an embedded model"
        )
    if workers > 1 and settings.redis_url is None:
        logging.getLogger("ollama_gateway").warning(
            "--workers %d without --redis-url: rate limits, quotas and concurrency caps apply "
            "per worker (each key gets %d times its limits)",
            workers,
            workers,
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
        # Forwarding headers only from the proxies the operator lists; uvicorn would otherwise
        # believe them from 127.0.0.1 (and FORWARDED_ALLOW_IPS), so anyone local could spoof.
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": list(settings.trusted_proxies) or None,
    }
    if workers > 1:
        os.environ[_WORKER_SETTINGS] = _settings_for_workers(settings)
        for name in _KEY_VARIABLES:
            os.environ.pop(name, None)
        uvicorn.run("ollama_gateway.cli.serve:worker_app", factory=True, workers=workers, **common)
    else:
        _serve_one(create_app(settings), common)


def _serve_one(app, options: dict[str, Any]) -> None:
    """One process: stopped early (exit 1, with the reason) if the app reports a fatal error."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, **options))
    app.state.stop_server = lambda: setattr(server, "should_exit", True)
    _freeze_startup_objects()
    server.run()
    if app.state.fatal:
        raise click.ClickException(app.state.fatal)
    if not server.started:
        sys.exit(3)  # uvicorn's own exit code for a failed start
