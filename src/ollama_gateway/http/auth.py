"""API keys: where they come from, how they are compared, how they are named in logs.

Keys are kept only as SHA-256 digests and compared with :func:`secrets.compare_digest`. A key file
lets the server hold ``sha256:<hex>`` entries instead of plaintext. A key is identified in logs and
metrics by a short prefix of its digest (or the ``name=`` given in the keys file), never by itself.

How a request presents its key (:func:`presented_key`): in ``X-API-KEY: KEY`` or in
``Authorization: Bearer KEY``. A request may carry several of those headers only if every one
holds the same key; two different keys, or an empty one beside a key, present no key at all
(401), so no header order or duplicate decides which key is used. ``Authorization`` with another
scheme (``Basic``, for a proxy in front) is not a credential of ours and is ignored. A 401 says
how to authenticate: ``WWW-Authenticate: Bearer realm="ollama-gateway"`` (RFC 6750), with
``error="invalid_token"`` when a key was presented but not accepted.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from pathlib import Path

from ollama_gateway.accounts.records import ROLES, KeyRecord
from ollama_gateway.settings import SHORT_KEY_LENGTH, Settings

KEY_ID_LENGTH = 8


class KeyFileError(ValueError):
    """A keys file that cannot be used; the message names the file and line."""


# A key as the edge sees it: digest, key id, rpm, tpm, role and (stored keys) the rest.
ApiKey = KeyRecord


def digest_of(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def key_id_of(digest: bytes) -> str:
    return digest.hex()[:KEY_ID_LENGTH]


def _parse_line(line: str, where: str, role: str = "admin") -> tuple[ApiKey, bool]:
    """One keys-file entry -> (key, is_short_plaintext)."""
    first, *rest = line.split()
    short = False
    if first.startswith("sha256:"):
        hexpart = first[len("sha256:") :].lower()
        if len(hexpart) != 64 or any(c not in "0123456789abcdef" for c in hexpart):
            raise KeyFileError(f"{where}: sha256: entries need 64 hex digits")
        digest = bytes.fromhex(hexpart)
    else:
        digest = digest_of(first)
        short = len(first) < SHORT_KEY_LENGTH
    fields: dict[str, str] = {}
    for item in rest:
        name, sep, value = item.partition("=")
        if not sep or name not in ("name", "rpm", "tpm", "role") or not value:
            raise KeyFileError(f"{where}: expected name=ID, rpm=N, tpm=N or role=R, got {item!r}")
        fields[name] = value
    chosen = next((known for known in ROLES if known == fields.get("role", role)), None)
    if chosen is None:
        raise KeyFileError(f"{where}: role must be one of {', '.join(ROLES)}")
    limits: dict[str, int] = {}
    for name in ("rpm", "tpm"):
        if name in fields:
            if not fields[name].isdigit() or int(fields[name]) < 1:
                raise KeyFileError(f"{where}: {name} must be a positive integer")
            limits[name] = int(fields[name])
    key_id = fields.get("name") or key_id_of(digest)
    key = ApiKey(digest, key_id, limits.get("rpm"), limits.get("tpm"), chosen, source="file")
    return key, short


def read_keys_file(path: Path, role: str = "admin") -> tuple[list[ApiKey], int]:
    """Entries of a keys file, and how many plaintext ones are short."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KeyFileError(f"cannot read keys file {path}: {exc.strerror or exc}") from None
    keys: list[ApiKey] = []
    short = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, is_short = _parse_line(line, f"{path}:{number}", role)
        keys.append(key)
        short += is_short
    return keys, short


class KeyRing:
    """The configured keys; ``match`` finds the one a request presented, in constant time."""

    def __init__(self, keys: Iterable[ApiKey]) -> None:
        self._keys = tuple(keys)

    @classmethod
    def from_settings(cls, settings: Settings, digests: Iterable[bytes] = ()) -> KeyRing:
        """The keys of ``settings`` plus keys known only by their SHA-256 ``digests`` (the
        environment keys a ``--workers`` parent hands its workers), all with the bootstrap role."""
        role = settings.bootstrap_role
        all_digests = [digest_of(k.get_secret_value()) for k in settings.api_keys]
        all_digests.extend(digests)
        keys = [ApiKey(d, key_id_of(d), role=role, source="env") for d in all_digests]
        if settings.keys_file is not None:
            keys.extend(read_keys_file(settings.keys_file, role)[0])
        return cls(keys)

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def match(self, presented: str | None) -> ApiKey | None:
        if not presented:
            return None
        return self.match_digest(digest_of(presented))

    def match_digest(self, digest: bytes) -> ApiKey | None:
        found = None
        for key in self._keys:  # no early exit: the time taken does not depend on which matched
            if secrets.compare_digest(digest, key.digest):
                found = key
        return found


WWW_AUTHENTICATE = 'Bearer realm="ollama-gateway"'
WWW_AUTHENTICATE_INVALID = WWW_AUTHENTICATE + ', error="invalid_token"'


def _credential(name: bytes, value: bytes) -> str | None:
    """The key one header carries ("" for an empty one), or None if it is not a credential."""
    if name == b"x-api-key":
        return value.decode("latin-1").strip()
    if name == b"authorization":
        scheme, _, token = value.decode("latin-1").strip().partition(" ")
        if scheme.lower() == "bearer":
            return token.strip()
    return None


def presented_key(
    headers: dict[bytes, bytes] | list[tuple[bytes, bytes]],
) -> tuple[str | None, bool]:
    """(the key the request presents, whether it carried any credential header at all).

    The key is None unless every ``X-API-KEY`` and ``Authorization: Bearer`` header holds the
    same non-empty key (raw ASGI headers, names in lower case).
    """
    items = headers.items() if isinstance(headers, dict) else headers
    found: str | None = None
    presented = False
    for name, value in items:
        key = _credential(name, value)
        if key is None:
            continue
        if not key or (presented and key != found):
            return None, True
        found, presented = key, True
    return found, presented
