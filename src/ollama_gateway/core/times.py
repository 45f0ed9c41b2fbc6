"""RFC 3339 times as Ollama writes and reads them (Go's ``time.Time`` in JSON)."""

from __future__ import annotations

import functools
import re
import time
from datetime import datetime

# Go writes up to nine fraction digits; a time without a zone is read as UTC.
_RFC3339 = re.compile(r"^\s*(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?\s*$")


@functools.lru_cache(maxsize=4)
def _whole_second(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def rfc3339_now() -> str:
    """The current UTC time as Ollama writes ``created_at`` (microseconds, ``Z``), cheaply."""
    now = time.time()
    whole = int(now)
    return f"{_whole_second(whole)}.{int((now - whole) * 1_000_000):06d}Z"


def rfc3339_seconds(text: str) -> float | None:
    """Seconds since the epoch of an RFC 3339 time (to the microsecond), or None.

    >>> rfc3339_seconds("2025-01-01T10:00:00.123456789-08:00")
    1735754400.123456
    >>> rfc3339_seconds("1970-01-01T00:00:01Z")
    1.0
    >>> rfc3339_seconds("not a time") is None, rfc3339_seconds("") is None
    (True, True)
    """
    found = _RFC3339.match(text)
    if found is None:
        return None
    whole, fraction, zone = found.groups()
    micro = f".{fraction[:6].ljust(6, '0')}" if fraction else ""
    offset = "+00:00" if zone in (None, "Z") else zone
    try:
        return datetime.fromisoformat(whole + micro + offset).timestamp()
    except ValueError:  # the shape of a time, not a time (month 13...)
        return None
