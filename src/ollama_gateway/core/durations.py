"""Durations as Ollama reads them (``keep_alive``): seconds as a number, or a Go duration."""

from __future__ import annotations

import math
import re

from ollama_gateway.errors import clip

# The longest duration accepted: Go's time.Duration (int64 nanoseconds) holds about 292 years,
# so this is what Ollama itself can represent. Larger, infinite or NaN values are refused.
MAX_DURATION_SECONDS = (2**63 - 1) / 1e9


def parse_duration(value: str | float | int | None) -> float | None:
    """Ollama's ``keep_alive``: seconds as a number, or a Go duration such as ``5m`` or ``1h30m``.

    The result is finite and at most :data:`MAX_DURATION_SECONDS` either way (ValueError
    otherwise: ``1e300``, ``"inf"``, ``"nan"``).

    >>> parse_duration("5m"), parse_duration(30), parse_duration("-1"), parse_duration("1h2m3.5s")
    (300.0, 30.0, -1.0, 3723.5)
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("a duration must be a number or a string such as '5m'")
    if isinstance(value, int) and abs(value) > MAX_DURATION_SECONDS:
        return _bounded(math.inf, value)  # too large for a float, let alone a duration
    if isinstance(value, int | float):
        return _bounded(float(value), value)
    text = value.strip()
    if not text:
        return None
    if _NUMBER.fullmatch(text):
        return _bounded(float(text), value)
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    parts = re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)", body)
    if not parts or "".join(n + u for n, u in parts) != body:
        raise ValueError(f"invalid duration {_shown(value)}")
    return _bounded(sign * sum(float(n) * units[u] for n, u in parts), value)


# A plain number: digits with an optional fraction and exponent (no "inf", "nan", "1_000").
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def _bounded(seconds: float, value: object) -> float:
    if not math.isfinite(seconds) or abs(seconds) > MAX_DURATION_SECONDS:
        raise ValueError(
            f"duration {_shown(value)} is out of range (at most {MAX_DURATION_SECONDS:.0f} seconds)"
        )
    return seconds


def _shown(value: object) -> str:
    """``value`` for an error message, cut short (it comes from a request)."""
    return clip(repr(value), 40)
