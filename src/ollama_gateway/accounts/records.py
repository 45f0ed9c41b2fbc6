"""What the request path knows about a key: :class:`KeyRecord`, immutable, served from memory.

A record comes from the database (``source="db"``), the ``--api-key`` setting (``"env"``) or the
keys file (``"file"``). It never holds the key itself: only its SHA-256 digest and a short display
prefix. ``key_id`` is the name logs and metrics use (the key's name, else its prefix).
"""

from __future__ import annotations

import fnmatch
import functools
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from ollama_gateway.core.names import full_name

Role = Literal["admin", "user", "metrics"]
ROLES: tuple[Role, ...] = ("admin", "user", "metrics")
Source = Literal["db", "env", "file"]


@functools.lru_cache(maxsize=4096)
def model_matcher(patterns: tuple[str, ...]) -> Callable[[str], bool]:
    """A test for model names: exact names (``llama2`` = ``llama2:latest``) and glob patterns.

    >>> allows = model_matcher(("qwen2*", "llama2"))
    >>> allows("qwen2.5:0.5b"), allows("llama2:latest"), allows("llama3"), allows("QWEN2")
    (True, True, False, False)
    """
    if not patterns:
        return lambda model: True
    exact = {full_name(p) for p in patterns if not any(c in p for c in "*?[")}
    globs = [re.compile(fnmatch.translate(p)) for p in patterns if any(c in p for c in "*?[")]

    def allows(model: str) -> bool:
        name = full_name(model)
        if name in exact:
            return True
        return any(g.match(model) or g.match(name) for g in globs)

    return allows


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One key as the request path sees it (limits are None when not set)."""

    digest: bytes
    key_id: str  # shown in logs and metrics: the name, else the display prefix
    rpm: int | None = None  # requests per minute
    tpm: int | None = None  # generated tokens per minute
    role: Role = "admin"
    id: str = ""  # the database id; "" for keys from settings or the keys file
    prefix: str = ""
    models: tuple[str, ...] = ()  # allowed models; empty: all
    tokens_per_day: int | None = None  # prompt + generated tokens, UTC days
    tokens_per_month: int | None = None
    requests_per_day: int | None = None
    requests_per_month: int | None = None
    max_concurrent: int | None = None
    weight: int = 1  # share of a model's slots when keys wait for it
    expires_at: float | None = None  # Unix seconds
    disabled: bool = False
    source: Source = "db"

    @property
    def subject(self) -> str:
        """The name usage and quotas are counted under: the database id, or the key id."""
        return self.id or f"{self.source}:{self.key_id}"

    @property
    def has_quota(self) -> bool:
        return (
            self.tokens_per_day is not None
            or self.tokens_per_month is not None
            or self.requests_per_day is not None
            or self.requests_per_month is not None
        )

    def allows(self, model: str) -> bool:
        return model_matcher(self.models)(model)

    def usable(self, now: float | None = None) -> bool:
        if self.disabled:
            return False
        return self.expires_at is None or (now or time.time()) < self.expires_at


def allowed_names(key: KeyRecord | None, names: Iterable[str]) -> list[str]:
    if key is None or not key.models:
        return list(names)
    allows = model_matcher(key.models)
    return [n for n in names if allows(n)]
