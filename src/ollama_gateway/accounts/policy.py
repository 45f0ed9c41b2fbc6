"""What a key may ask of the shared server: its models, and caps on options for ``user`` keys.

Model access: a model outside a key's allowlist behaves as if it did not exist (404 with the
API's usual "not found" message; listings leave it out), so a key cannot learn which other models
the server has. Every route that names or lists models goes through :func:`require_model` or
:func:`visible`; generations through :func:`enforce_generation` (called by the service).

Options (``admin`` keys, and a gateway without keys, are not limited):

================  ====================================================================
``num_ctx``       capped at ``user_max_num_ctx`` (default 8192)
``keep_alive``    negative (forever) or longer than ``user_max_keep_alive`` (default 30m):
                  capped at ``user_max_keep_alive``
``num_gpu``,      server tuning (GPU layers, threads, batch, memory mapping): ignored for
``main_gpu``,     user keys, the server's settings apply
``num_thread``,
``num_batch``,
``use_mmap``,
``use_mlock``,
``numa``,
``low_vram``
``template``      refused (403): a user key cannot replace a model's prompt template
``context``       at most ``user_max_num_ctx`` token ids, else 400
``dimensions``    at most 65536, else 400
================  ====================================================================
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import TypeVar

from ollama_gateway.accounts.records import KeyRecord, model_matcher
from ollama_gateway.accounts.roles import is_admin
from ollama_gateway.core.observer import request_state
from ollama_gateway.core.types import EmbedRequest, GenerationRequest
from ollama_gateway.errors import (
    BadRequest,
    Forbidden,
    GatewayError,
    ModelNotFound,
    UpstreamBadResponse,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from ollama_gateway.settings import Settings, parse_duration

T = TypeVar("T")

SERVER_OPTIONS = frozenset(
    {"num_gpu", "main_gpu", "num_thread", "num_batch", "use_mmap", "use_mlock", "numa", "low_vram"}
)
MAX_DIMENSIONS = 65536


def current_key() -> KeyRecord | None:
    """The key the current request presented (None: no keys configured, or no request)."""
    state = request_state()
    return state.get("api_key") if state else None


def may_use(model: str, key: KeyRecord | None = None) -> bool:
    key = key if key is not None else current_key()
    return key is None or not key.models or model_matcher(key.models)(model)


def require_model(model: str, message: str | None = None) -> None:
    """Raise :class:`ModelNotFound` (as for a missing model) unless the key may use ``model``."""
    if not may_use(model):
        raise ModelNotFound(model, message)


def visible(items: Iterable[T], name: Callable[[T], str]) -> list[T]:
    """The items whose model the current key may use (a listing filtered for the key)."""
    key = current_key()
    if key is None or not key.models:
        return list(items)
    allows = model_matcher(key.models)
    return [item for item in items if allows(name(item))]


def enforce_generation(request: GenerationRequest, settings: Settings) -> None:
    """Model access and option caps for one generation (``request.model`` already defaulted)."""
    key = current_key()
    if key is None:
        return
    if key.models and not model_matcher(key.models)(request.model):
        raise ModelNotFound(request.model)
    if key.role == "admin":
        return
    if request.options:
        _cap_options(request.options, settings)
    if request.keep_alive is not None:
        request.keep_alive = _cap_keep_alive(request.keep_alive, settings)
    if request.template:
        raise Forbidden("the 'template' field needs an admin key")
    if request.context is not None and len(request.context) > settings.user_max_num_ctx:
        raise BadRequest(f"'context' may hold at most {settings.user_max_num_ctx} tokens")


def enforce_embed(request: EmbedRequest, settings: Settings) -> None:
    key = current_key()
    if key is None:
        return
    require_model(request.model)
    if is_admin(key):
        return
    _cap_options(request.options, settings)
    request.keep_alive = _cap_keep_alive(request.keep_alive, settings)
    if request.dimensions is not None and request.dimensions > MAX_DIMENSIONS:
        raise BadRequest(f"'dimensions' must be at most {MAX_DIMENSIONS}")


def _cap_options(options: dict, settings: Settings) -> None:
    if not options:
        return
    for name in SERVER_OPTIONS.intersection(options):
        del options[name]
    num_ctx = options.get("num_ctx")
    if isinstance(num_ctx, int) and not isinstance(num_ctx, bool):
        options["num_ctx"] = min(num_ctx, settings.user_max_num_ctx)


def _cap_keep_alive(keep_alive: float | None, settings: Settings) -> float | None:
    if keep_alive is None:
        return None
    cap = _seconds(settings.user_max_keep_alive)
    return cap if keep_alive < 0 or keep_alive > cap else keep_alive


@functools.lru_cache(maxsize=16)
def _seconds(duration: str) -> float:
    return parse_duration(duration) or 0.0


# What a non-admin key reads instead of an upstream failure's own words (which name internal
# hosts, ports and connection errors); admins, and the log, get the details.
_PUBLIC_UPSTREAM = {
    UpstreamUnavailable: "the model server is unavailable, try again later",
    UpstreamTimeout: "the model server did not answer in time",
    UpstreamBadResponse: "the model server answered something unexpected",
}


def public_message(exc: GatewayError) -> str:
    """``exc.message``, or a version without internal details for a non-admin key."""
    if is_admin(current_key()):
        return exc.message
    for kind, text in _PUBLIC_UPSTREAM.items():
        if isinstance(exc, kind):
            return text
    return exc.message
