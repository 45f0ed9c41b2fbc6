"""How :class:`~ollama_gateway.settings.Settings` reads values given as text, and what it
refuses: API keys, comma-separated lists, proxy networks, the fleet's upstreams and fallbacks.

Each function takes the raw value a validator receives (a string from a flag or the
environment, or a list/dict from the config file) and returns what the field is built from;
ValueError says why a value is refused (pydantic turns it into a settings error).
"""

from __future__ import annotations

import ipaddress
import json
import logging
from typing import Any

from pydantic import SecretStr

from ollama_gateway.errors import BadRequest
from ollama_gateway.models.refs import parse_model_spec, parse_ref
from ollama_gateway.upstream_settings import UpstreamSettings, parse_pairs

log = logging.getLogger("ollama_gateway.settings")


def split_keys(value: object) -> object:
    """API keys, comma-separated: none empty or padded with whitespace (``API_KEY=``: none)."""
    if isinstance(value, str):
        value = value.split(",")
    if isinstance(value, list | tuple):
        keys = []
        for item in value:
            raw = item.get_secret_value() if isinstance(item, SecretStr) else str(item)
            if not raw.strip():
                if len(value) == 1 and isinstance(item, str) and item == "":
                    return []  # API_KEY= (set but empty) means no key, not an empty key
                raise ValueError("API keys must not be empty or whitespace")
            if raw != raw.strip():
                raise ValueError("API keys must not start or end with whitespace")
            keys.append(raw)
        return keys
    return value


def split_list(value: object) -> object:
    """A comma-separated list, its items stripped, empty ones dropped."""
    if isinstance(value, str):
        return [o.strip() for o in value.split(",") if o.strip()]
    return value


def split_proxies(value: object) -> object:
    """Addresses or networks (or ``*``), comma-separated; anything else is refused."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list | tuple):
        proxies = [p.strip() for v in value for p in str(v).split(",") if p.strip()]
        for proxy in proxies:
            if proxy == "*":
                continue
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(f"{proxy!r} is not an IP address or network") from None
        return proxies
    return value


def parse_upstreams(value: object) -> object:
    """Upstreams as a JSON list, or ``TYPE=URL`` items separated by commas."""
    if isinstance(value, str):
        text = value.strip()
        return json.loads(text) if text.startswith("[") else text.split(",") if text else []
    return value


def parse_fallbacks(value: object) -> object:
    """``MODEL=OTHER[|OTHER...]`` pairs: each model's fallbacks, in order."""
    pairs: Any = parse_pairs(value, "fallback_models")
    if isinstance(pairs, dict):
        return {
            k: [m for m in v.split("|") if m] if isinstance(v, str) else v for k, v in pairs.items()
        }
    return pairs


def check_fleet(upstreams: list[UpstreamSettings], backend: str) -> None:
    """Upstream names are unique, the backend can use them, and at most one is embedded."""
    names = [u.name for u in upstreams]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"upstream names must be unique: {', '.join(twice)} given twice")
    if upstreams and backend in ("ollama", "embedded"):
        raise ValueError(
            f"backend {backend!r} serves one source: upstreams need backend fleet or auto"
        )
    if sum(u.type == "embedded" for u in upstreams) > 1:
        raise ValueError("the embedded engine can be one upstream, not several")


def check_model(value: str) -> str:
    """The default model: a model name, a GGUF path, or NAME=PATH."""
    try:
        spec = parse_model_spec(value)
        if spec.path is None:
            parse_ref(spec.name)
    except BadRequest as exc:
        raise ValueError(exc.message) from None
    return value


def warn_short_keys(keys: list[SecretStr], shortest: int) -> None:
    """Log a warning (never the key) for each configured key shorter than ``shortest``."""
    for key in keys:
        if len(key.get_secret_value()) < shortest:
            log.warning(
                "an API key is shorter than %d characters; use `ollama-gateway keys new`",
                shortest,
            )
