"""``ollama-gateway keys``: make API keys and the lines of the keys file.

The keys file holds one entry per line: ``KEY`` or ``sha256:<hex of the key's SHA-256>``,
optionally followed by ``name=ID rpm=N tpm=N``. Storing the digest means the file does not hold
the key itself.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

import click

#: Prefix of generated keys, so secret scanners and people can tell what a leaked string is.
KEY_PREFIX = "ogw_"


def new_key() -> str:
    """A fresh key: 32 random bytes (256 bits), URL-safe base64, with a recognizable prefix."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_digest(key: str) -> str:
    """``sha256:<hex>`` of the key's UTF-8 bytes, as the keys file stores it.

    >>> key_digest("secret")
    'sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b'
    """
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def keys_file_line(key: str, name: str | None, rpm: int | None, tpm: int | None) -> str:
    """The line to add to the keys file for ``key``.

    >>> keys_file_line("secret", "alice", 60, None)
    'sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b name=alice rpm=60'
    """
    fields = [key_digest(key)]
    fields += [f"{label}={value}" for label, value in (("name", name), ("rpm", rpm), ("tpm", tpm))]
    return " ".join(f for f in fields if not f.endswith("=None"))


def append_line(path: Path, line: str) -> None:
    """Append ``line`` to the keys file, creating it readable by its owner only (mode 600)."""
    missing_newline = path.is_file() and path.read_bytes()[-1:] not in (b"", b"\n")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(("\n" if missing_newline else "") + line + "\n")


@click.group()
def keys() -> None:
    """Make API keys for the gateway."""


@keys.command("new")
@click.option("--name", help="A name for the key's owner, used in logs and metrics (name=ID).")
@click.option("--rpm", type=click.IntRange(min=1), help="Most requests per minute for this key.")
@click.option("--tpm", type=click.IntRange(min=1), help="Most tokens per minute for this key.")
@click.option(
    "--append",
    "append_to",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also append the digest line to this keys file (created mode 600).",
)
def new(name: str | None, rpm: int | None, tpm: int | None, append_to: Path | None) -> None:
    """Print a new random API key, then its line for the keys file.

    Give the key (first line) to the client, e.g. as OLLAMA_GATEWAY_API_KEY; put the second
    line in the gateway's keys file. The file then holds only the key's SHA-256 digest.
    """
    if name is not None and (not name or any(c.isspace() or c == "=" for c in name)):
        raise click.BadParameter("must be non-empty, without spaces or '='", param_hint="'--name'")
    key = new_key()
    line = keys_file_line(key, name, rpm, tpm)
    click.echo(key)
    click.echo(line)
    click.echo(
        "First line: the key, for the client (OLLAMA_GATEWAY_API_KEY). Second line: for the "
        "gateway's keys file. The key is not stored anywhere: keep it now.",
        err=True,
    )
    if append_to is not None:
        try:
            append_line(append_to, line)
        except OSError as exc:
            raise click.ClickException(f"cannot write {append_to}: {exc.strerror}") from None
        click.echo(f"added to {append_to}", err=True)
