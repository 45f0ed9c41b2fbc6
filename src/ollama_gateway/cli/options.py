"""Click options generated from :class:`Settings`, so every setting has a flag and a --help line.

Only flags that were given reach ``Settings(...)``: the environment fills the rest.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import click

from ollama_gateway.settings import Settings

# Settings whose flag reads better in the singular (given once per value).
SINGULAR = {
    "api_keys": "--api-key",
    "cors_origins": "--cors-origin",
    "upstreams": "--upstream",
    "aliases": "--alias",
    "fallback_models": "--fallback",
}


def _unwrap(annotation: Any) -> Any:
    if get_origin(annotation) is typing.Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
    return annotation


def flag_name(field: str) -> str:
    return SINGULAR.get(field, "--" + field.replace("_", "-"))


def settings_options(exclude: tuple[str, ...] = ()) -> Callable:
    """A decorator adding one option per settings field (in declaration order)."""

    def decorate(command: Callable) -> Callable:
        for name, field in reversed(list(Settings.model_fields.items())):
            if name in exclude:
                continue
            kind = _unwrap(field.annotation)
            help_text = field.description or ""
            flag = flag_name(name)
            if kind is bool:
                if name == "insecure_no_auth":  # a deliberate act: no --no- form needed
                    option = click.option(flag, name, is_flag=True, default=None, help=help_text)
                else:
                    decls = f"{flag}/--no-{flag[2:]}"
                    option = click.option(decls, name, default=None, help=help_text)
            elif get_origin(kind) in (list, dict):  # given once per item (NAME=VALUE for dicts)
                option = click.option(flag, name, multiple=True, default=None, help=help_text)
            elif get_origin(kind) is Literal:
                choice = click.Choice([str(a) for a in get_args(kind)])
                option = click.option(flag, name, type=choice, default=None, help=help_text)
            else:
                ptype = {int: int, float: float, Path: click.Path(path_type=Path)}.get(kind, str)
                option = click.option(flag, name, type=ptype, default=None, help=help_text)
            command = option(command)
        return command

    return decorate


def given(values: dict[str, Any]) -> dict[str, Any]:
    """The flags the user actually gave (None and empty tuples mean: not given)."""
    return {
        k: (list(v) if isinstance(v, tuple) else v)
        for k, v in values.items()
        if v is not None and v != ()
    }


def env_names(field: str) -> list[str]:
    """The environment variables that set a field, in priority order."""
    from pydantic import AliasChoices

    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return [a for a in alias.choices if isinstance(a, str) and a.isupper()]
    return ["OLLAMA_GATEWAY_" + field.upper()]


def settings_table() -> str:
    """The README's settings table, generated from :class:`Settings` (a test keeps them equal)."""
    rows = ["| flag | environment | default | meaning |", "|---|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        shown = "" if default in (None, [], {}, "") else f"`{default}`"
        envs = ", ".join(f"`{e}`" for e in env_names(name))
        rows.append(f"| `{flag_name(name)}` | {envs} | {shown} | {field.description} |")
    return "\n".join(rows)
