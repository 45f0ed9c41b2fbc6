"""Turning what people type for a server's address into a base URL (stdlib only).

Shared by the settings (``OLLAMA_HOST``, the upstream) and the client (``OLLAMA_GATEWAY_URL``),
with the rules of Ollama's own clients: ``host``, ``host:port``, ``:port``, a bare IPv6 address,
or a full ``http(s)://`` URL; a scheme without a port gets the scheme's port.
"""

from __future__ import annotations

import contextlib
import ipaddress
from urllib.parse import urlsplit


def parse_host(value: str | None, default_port: int, what: str = "server") -> str:
    """The base URL for ``value`` (``http://127.0.0.1:<default_port>`` when empty).

    >>> parse_host(None, 11434)
    'http://127.0.0.1:11434'
    >>> parse_host('example.com', 11434)
    'http://example.com:11434'
    >>> parse_host('example.com:56789', 11434)
    'http://example.com:56789'
    >>> parse_host(':56789', 11434)
    'http://127.0.0.1:56789'
    >>> parse_host('http://example.com', 11434)
    'http://example.com:80'
    >>> parse_host('https://example.com', 11434)
    'https://example.com:443'
    >>> parse_host('https://example.com:56789/path/', 11434)
    'https://example.com:56789/path'
    >>> parse_host('[::1]:8080', 11434)
    'http://[::1]:8080'
    >>> parse_host('::1', 8000)
    'http://[::1]:8000'
    >>> parse_host('ftp://x', 8000, 'gateway')
    Traceback (most recent call last):
    ...
    ValueError: unsupported scheme 'ftp' in gateway URL 'ftp://x'
    """
    text = (value or "").strip()
    if not text:
        return f"http://127.0.0.1:{default_port}"
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "http", text
    scheme = scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"unsupported scheme {scheme!r} in {what} URL {text!r}")
    port = (80 if scheme == "http" else 443) if sep else default_port
    with contextlib.suppress(ValueError):  # a bare IPv6 address, without brackets
        rest = f"[{ipaddress.IPv6Address(rest)}]"
    split = urlsplit(f"{scheme}://{rest}")
    hostname = split.hostname or "127.0.0.1"
    if ":" in hostname:
        hostname = f"[{hostname}]"
    try:
        port = split.port or port
    except ValueError:
        raise ValueError(f"invalid port in {what} URL {text!r}") from None
    return f"{scheme}://{hostname}:{port}{split.path.rstrip('/')}"


def parse_ollama_host(value: str | None, default_port: int = 11434) -> str:
    """Turn an ``OLLAMA_HOST``-style value into a base URL, as Ollama's clients do.

    >>> parse_ollama_host('example.com'), parse_ollama_host(None)
    ('http://example.com:11434', 'http://127.0.0.1:11434')
    """
    return parse_host(value, default_port, "Ollama")


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
