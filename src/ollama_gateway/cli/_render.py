"""Terminal output: streamed text with dimmed reasoning, sizes, ages and plain tables."""

from __future__ import annotations

import re
import sys
from datetime import datetime, timezone

import click


class StreamPrinter:
    """Writes a streamed answer to stdout as it comes; reasoning goes dimmed to stderr.

    Keeping the reasoning off stdout means ``ollama-gateway generate ... > answer.txt`` holds the
    answer alone, while a terminal shows both.
    """

    def __init__(self) -> None:
        self._thinking = False
        self._last = "\n"

    def write(self, text: str | None, thinking: str | None = None) -> None:
        """Print the next piece of reasoning and/or answer."""
        if thinking:
            if not self._thinking:
                click.echo(click.style("Thinking...", dim=True), err=True)
                self._thinking = True
            click.echo(click.style(thinking, dim=True), nl=False, err=True)
        if text:
            if self._thinking:
                click.echo(click.style("\n...done thinking.\n", dim=True), err=True)
                self._thinking = False
            click.echo(text, nl=False)
            self._last = text
            sys.stdout.flush()

    def finish(self) -> None:
        """End the answer with a newline, once."""
        if self._thinking:
            click.echo("", err=True)
            self._thinking = False
        if not self._last.endswith("\n"):
            click.echo("")
        self._last = "\n"


def human_size(size: int | None) -> str:
    """Bytes as Ollama's CLI shows them.

    >>> human_size(986_000_000), human_size(4_661_224_676), human_size(2048), human_size(None)
    ('986 MB', '4.7 GB', '2.0 KB', '-')
    """
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            if unit == "B":
                return f"{int(value)} B"
            return f"{value:.0f} {unit}" if value >= 100 else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def parse_time(text: str | None) -> datetime | None:
    """An RFC 3339 time as Ollama writes it (nanoseconds, ``Z`` or an offset), or ``None``.

    >>> parse_time("2024-06-04T14:38:31.83753-07:00").utcoffset().total_seconds()
    -25200.0
    >>> parse_time("2025-01-01T00:00:00.123456789Z").microsecond
    123456
    >>> parse_time("2025-01-01T10:00:00.5+02:00").isoformat()
    '2025-01-01T10:00:00.500000+02:00'
    >>> parse_time("never") is None
    True
    """
    if not text:
        return None
    text = text.strip().replace("Z", "+00:00").replace("z", "+00:00")
    # Python 3.10 reads only 3 or 6 fraction digits: Go writes 0-9
    text = re.sub(r"\.(\d+)", lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


UNITS = (
    ("year", 31_536_000),
    ("month", 2_592_000),
    ("week", 604_800),
    ("day", 86_400),
    ("hour", 3_600),
    ("minute", 60),
    ("second", 1),
)


def relative_time(text: str | None, now: datetime | None = None) -> str:
    """``"3 hours ago"`` / ``"4 minutes from now"``, or the text itself when unreadable.

    >>> now = datetime(2025, 1, 1, 12, 0, tzinfo=timezone.utc)
    >>> relative_time("2025-01-01T09:00:00Z", now), relative_time("2025-01-01T12:04:10Z", now)
    ('3 hours ago', '4 minutes from now')
    >>> relative_time("2025-01-01T11:59:59Z", now), relative_time("2024-12-30T12:00:00Z", now)
    ('Less than a second ago', '2 days ago')
    """
    when = parse_time(text)
    if when is None:
        return text or "-"
    seconds = ((now or datetime.now(timezone.utc)) - when).total_seconds()
    future, seconds = seconds < 0, abs(seconds)
    if seconds < 1.5:
        return "Less than a second from now" if future else "Less than a second ago"
    for unit, size in UNITS:
        if seconds >= size:
            count = int(seconds // size)
            label = f"{count} {unit}{'s' if count != 1 else ''}"
            return f"{label} from now" if future else f"{label} ago"
    raise AssertionError("unreachable")


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Left-aligned columns separated by spaces, like ``ollama list``."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = [
        "    ".join(f"{cell:<{w}}" for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [headers, *rows]
    ]
    return "\n".join(lines)


def short_digest(digest: str | None) -> str:
    """The first 12 hex digits, as ``ollama list`` shows IDs."""
    if not digest:
        return "-"
    return digest.removeprefix("sha256:")[:12]
