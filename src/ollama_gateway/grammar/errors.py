"""The one error the converter raises: a 400 that names the keyword and where it is."""

from __future__ import annotations

from ollama_gateway.errors import BadRequest


class SchemaError(BadRequest):
    """The JSON schema cannot be turned into a grammar that enforces it."""


def pointer(path: tuple[str | int, ...]) -> str:
    """``path`` as a JSON pointer in URI-fragment form (``#/properties/a~1b``)."""
    parts = (str(p).replace("~", "~0").replace("/", "~1") for p in path)
    return "#" + "".join("/" + p for p in parts)


def unsupported(keyword: str, path: tuple[str | int, ...], why: str = "") -> SchemaError:
    detail = f": {why}" if why else ""
    return SchemaError(
        f'JSON schema keyword "{keyword}" at {pointer(path)} is not supported{detail}'
    )


def invalid(keyword: str, path: tuple[str | int, ...], why: str) -> SchemaError:
    return SchemaError(f'JSON schema keyword "{keyword}" at {pointer(path)}: {why}')


def over_limit(keyword: str, path: tuple[str | int, ...], value: object, limit: int) -> SchemaError:
    return SchemaError(
        f'JSON schema keyword "{keyword}" at {pointer(path)}: {value} is over the limit of {limit}'
    )
