"""``ollama-gateway keys create|list|show|update|revoke|rotate`` and ``ollama-gateway usage``.

Two ways to reach the keys: a running gateway's admin API (``--url`` and an admin ``--api-key``,
or ``OLLAMA_GATEWAY_URL`` / ``OLLAMA_GATEWAY_API_KEY``), or the database itself with
``--database-url`` (``sqlite:///PATH`` or ``postgresql://...``; needs the server extra). Changes
made directly in the database reach running gateways at their next key reload (``--key-refresh``,
5 s by default); through the admin API they apply at once, on every replica sharing Redis.

A new key is printed once, alone on stdout; everything else about it goes to stderr.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from datetime import date, datetime, timedelta, timezone
from typing import Any

import click

from ollama_gateway.cli._remote import errors_as_exit
from ollama_gateway.cli.key_targets import open_target

ROLES = ("admin", "user", "metrics")
LIMITS = (
    "rpm",
    "tpm",
    "tokens_per_day",
    "tokens_per_month",
    "requests_per_day",
    "requests_per_month",
    "max_concurrent",
    "weight",
)


def _when(text: str) -> datetime:
    """An ISO date/time, or a duration from now: ``30d``, ``12h``, ``90m``."""
    found = re.fullmatch(r"(\d+)([dhm])", text.strip())
    if found:
        amount, unit = int(found.group(1)), found.group(2)
        delta = {"d": timedelta(days=amount), "h": timedelta(hours=amount)}.get(
            unit, timedelta(minutes=amount)
        )
        return datetime.now(timezone.utc) + delta
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter("use an ISO date/time or a duration like 30d") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _day(text: str) -> date:
    found = re.fullmatch(r"(\d+)d", text.strip())
    if found:
        return datetime.now(timezone.utc).date() - timedelta(days=int(found.group(1)))
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise click.BadParameter("use YYYY-MM-DD or a number of days like 7d") from None


def target_options(command):
    """``--url``, ``--api-key``, ``--database-url``: which gateway or database to work on."""
    command = click.option(
        "--database-url",
        envvar="OLLAMA_GATEWAY_DATABASE_URL",
        metavar="URL",
        help="Work on this database directly instead of a running gateway.",
    )(command)
    command = click.option(
        "--api-key", envvar="OLLAMA_GATEWAY_API_KEY", metavar="KEY", help="An admin key."
    )(command)
    return click.option(
        "--url", envvar="OLLAMA_GATEWAY_URL", metavar="URL", help="The gateway's address."
    )(command)


def field_options(command):
    """The fields of a key, as options (shared by create and update)."""
    options = [
        click.option("--name", help="Owner or purpose (no spaces)."),
        click.option("--role", type=click.Choice(ROLES), help="admin, user or metrics."),
        click.option("--model", "models", multiple=True, help="Allowed model or glob; repeat."),
        click.option("--label", "labels", multiple=True, metavar="K=V", help="A label; repeat."),
        click.option("--expires", type=_when, help="ISO time or a duration (30d)."),
    ]
    for name in LIMITS:
        options.append(
            click.option("--" + name.replace("_", "-"), name, type=click.IntRange(min=1))
        )
    for option in reversed(options):
        command = option(command)
    return command


def _fields(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("name", "role", *LIMITS):
        if values.get(name) is not None:
            out[name] = values[name]
    if values.get("models"):
        out["models"] = list(values["models"])
    if values.get("labels"):
        labels = {}
        for item in values["labels"]:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise click.BadParameter(f"{item!r} is not K=V", param_hint="'--label'")
            labels[key] = value
        out["labels"] = labels
    if values.get("expires") is not None:
        out["expires_at"] = values["expires"].isoformat()
    return out


def _dump(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


def _show(record: dict[str, Any]) -> None:
    for name in ("id", "name", "prefix", "role", "models", *LIMITS, "expires_at", "disabled"):
        value = record.get(name)
        if value not in (None, [], ""):
            click.echo(f"{name:<20}{', '.join(value) if isinstance(value, list) else value}")
    for name in ("labels", "created_at", "updated_at", "last_used_at"):
        if record.get(name):
            click.echo(f"{name:<20}{record[name]}")


def _new_key(record: dict[str, Any], as_json: bool) -> None:
    if as_json:
        _dump(record)
        return
    click.echo(record["key"])
    click.echo(
        f"key {record['id']} ({record.get('name') or 'unnamed'}, role {record['role']}): shown "
        "once, keep it now.",
        err=True,
    )


@click.command("create")
@target_options
@field_options
@click.option("--json", "as_json", is_flag=True, help="Print the whole record as JSON.")
def create(url, api_key, database_url, as_json, **values):
    """Create a key; print it (once) on stdout."""
    fields = _fields(values)
    fields.setdefault("role", "user")
    with errors_as_exit():
        _new_key(open_target(url, api_key, database_url).create(fields), as_json)


@click.command("list")
@target_options
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
def list_keys(url, api_key, database_url, as_json):
    """List keys (never the keys themselves)."""
    with errors_as_exit():
        keys = open_target(url, api_key, database_url).list()
    if as_json:
        _dump(keys)
        return
    click.echo(
        f"{'ID':<18}{'NAME':<16}{'PREFIX':<14}{'ROLE':<9}{'STATE':<10}{'LAST USED':<20}MODELS"
    )
    for k in keys:
        state = "disabled" if k["disabled"] else "active"
        used = str(k.get("last_used_at") or "-")[:19]
        models = ",".join(k.get("models") or []) or "*"
        click.echo(
            f"{k['id']:<18}{k['name'][:15]:<16}{k['prefix']:<14}{k['role']:<9}{state:<10}"
            f"{used:<20}{models}"
        )


@click.command("show")
@click.argument("key_id")
@target_options
@click.option("--json", "as_json", is_flag=True)
def show(key_id, url, api_key, database_url, as_json):
    """Show one key."""
    with errors_as_exit():
        record = open_target(url, api_key, database_url).get(key_id)
    _dump(record) if as_json else _show(record)


@click.command("update")
@click.argument("key_id")
@target_options
@field_options
@click.option("--enable/--disable", "enabled", default=None, help="Turn the key on or off.")
@click.option("--all-models", is_flag=True, help="Allow every model again.")
@click.option("--json", "as_json", is_flag=True)
def update(key_id, url, api_key, database_url, enabled, all_models, as_json, **values):
    """Change a key's fields (only those given)."""
    changes = _fields(values)
    if enabled is not None:
        changes["disabled"] = not enabled
    if all_models:
        changes["models"] = []
    if not changes:
        raise click.UsageError("nothing to change")
    with errors_as_exit():
        record = open_target(url, api_key, database_url).update(key_id, changes)
    _dump(record) if as_json else _show(record)


@click.command("revoke")
@click.argument("key_id")
@target_options
@click.option("--delete", is_flag=True, help="Remove the key instead of disabling it.")
def revoke(key_id, url, api_key, database_url, delete):
    """Stop a key from working (disable it; --delete removes it)."""
    target = open_target(url, api_key, database_url)
    with errors_as_exit():
        if delete:
            target.delete(key_id)
        else:
            target.update(key_id, {"disabled": True})
    click.echo(f"key {key_id} {'deleted' if delete else 'disabled'}", err=True)


@click.command("rotate")
@click.argument("key_id")
@target_options
@click.option("--json", "as_json", is_flag=True)
def rotate(key_id, url, api_key, database_url, as_json):
    """Give a key a new secret (the old one stops working); print it once."""
    with errors_as_exit():
        _new_key(open_target(url, api_key, database_url).rotate(key_id), as_json)


@click.command("usage")
@target_options
@click.option(
    "--by",
    "groups",
    multiple=True,
    type=click.Choice(["key", "model", "day", "api"]),
    help="Group by (repeat for several) [default: key].",
)
@click.option("--since", type=_day, help="YYYY-MM-DD or a number of days back (7d).")
@click.option("--until", type=_day, help="YYYY-MM-DD (inclusive).")
@click.option("--key", "key_id", help="Only this key id.")
@click.option("--model", help="Only this model.")
@click.option("--csv", "csv_out", is_flag=True, help="CSV instead of a table.")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
def usage(url, api_key, database_url, groups, since, until, key_id, model, csv_out, as_json):
    """Requests and tokens from the usage records (daily rollups)."""
    by = list(groups) or ["key"]
    params: dict[str, Any] = {"by": ",".join(by)}
    for name, value in (("since", since), ("until", until), ("key", key_id), ("model", model)):
        if value is not None:
            params[name] = value.isoformat() if isinstance(value, date) else value
    with errors_as_exit():
        result = open_target(url, api_key, database_url).usage(params, csv_out)
    if csv_out:
        sys.stdout.write(result)
        return
    if as_json:
        _dump(result)
        return
    columns = [*by, *(["name"] if "key" in by else [])]
    numbers = ["requests", "errors", "prompt_tokens", "generated_tokens", "total_tokens"]
    click.echo(
        "  ".join(f"{c.upper():<18}" for c in columns)
        + "".join(f"{n.upper():>18}" for n in numbers)
    )
    for row in result["rows"]:
        left = "  ".join(
            f"{str(row.get(c) if row.get(c) is not None else '-')[:18]:<18}" for c in columns
        )
        click.echo(left + "".join(f"{row[n]:>18}" for n in numbers))


@click.group("db")
def db() -> None:
    """The key and usage database."""


@db.command("upgrade")
@click.option(
    "--database-url",
    envvar="OLLAMA_GATEWAY_DATABASE_URL",
    metavar="URL",
    help="The database [default: SQLite gateway.db in the data directory].",
)
@click.option("--data-dir", envvar="OLLAMA_GATEWAY_DATA_DIR", type=click.Path(), default=None)
def upgrade(database_url: str | None, data_dir: str | None) -> None:
    """Apply the schema migrations (the gateway also does this when it starts)."""
    from pathlib import Path

    from ollama_gateway.accounts.db import DatabaseError, create_engine, migrate, safe_url
    from ollama_gateway.accounts.db import database_url as url_of
    from ollama_gateway.settings import Settings

    settings = Settings(
        _env_file=None,
        database_url=database_url,
        data_dir=Path(data_dir) if data_dir else None,
    )
    try:
        url = url_of(settings)
    except DatabaseError as exc:
        raise click.BadParameter(str(exc), param_hint="'--database-url'") from None

    async def run() -> str:
        engine = create_engine(url)
        try:
            return await migrate(engine)
        finally:
            await engine.dispose()

    try:
        revision = asyncio.run(run())
    except DatabaseError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{safe_url(url)} is at revision {revision}")
