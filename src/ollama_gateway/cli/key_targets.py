"""Where the key and usage commands act (accounts_cmd.py): a running gateway's admin API
(:class:`Remote`), or the key database itself (:class:`Local`). Both offer the same methods and
return the admin API's JSON shapes.
"""

from __future__ import annotations

import asyncio
import getpass
from datetime import date, datetime, timezone
from typing import Any

import click


class Remote:
    """The admin API of a running gateway."""

    def __init__(self, url: str | None, api_key: str | None) -> None:
        import httpx

        from ollama_gateway.client import parse_url

        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=parse_url(url), headers=headers, timeout=30)

    def _call(self, method: str, path: str, text: bool = False, **kwargs: Any) -> Any:
        import httpx

        try:
            reply = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise click.ClickException(f"cannot reach the gateway: {exc}") from None
        if reply.status_code >= 400:
            try:
                detail = reply.json().get("detail") or reply.text
            except ValueError:
                detail = reply.text
            raise click.ClickException(f"{reply.status_code}: {detail}")
        if reply.status_code == 204:
            return None
        return reply.text if text else reply.json()

    def create(self, fields):
        return self._call("POST", "/admin/keys", json=fields)

    def list(self):
        return self._call("GET", "/admin/keys")["keys"]

    def get(self, key_id):
        return self._call("GET", f"/admin/keys/{key_id}")

    def update(self, key_id, changes):
        return self._call("PATCH", f"/admin/keys/{key_id}", json=changes)

    def delete(self, key_id):
        return self._call("DELETE", f"/admin/keys/{key_id}")

    def rotate(self, key_id):
        return self._call("POST", f"/admin/keys/{key_id}/rotate")

    def usage(self, params, csv_out):
        params = {**params, "format": "csv" if csv_out else "json"}
        return self._call("GET", "/admin/usage", params=params, text=csv_out)


class Local:
    """The database itself (migrated first); audit entries name the local user."""

    def __init__(self, url: str) -> None:
        from ollama_gateway.accounts.db import DatabaseError, async_url

        try:
            self.url = async_url(url)
        except DatabaseError as exc:
            raise click.BadParameter(str(exc), param_hint="'--database-url'") from None
        self.actor = f"cli:{getpass.getuser()}"

    def _run(self, work):
        from ollama_gateway.accounts.db import DatabaseError, create_engine, migrate
        from ollama_gateway.accounts.store import KeyNotFound, SqlStore

        async def run():
            engine = create_engine(self.url)
            try:
                await migrate(engine)
                return await work(SqlStore(engine))
            finally:
                await engine.dispose()

        try:
            return asyncio.run(run())
        except KeyNotFound as exc:
            raise click.ClickException(f"no key with id {exc.args[0]!r}") from None
        except DatabaseError as exc:
            raise click.ClickException(str(exc)) from None

    def create(self, fields):
        if "expires_at" in fields:
            fields["expires_at"] = _naive(fields["expires_at"])
        record, key = self._run(lambda s: s.create_key(fields, self.actor))
        return {**record, "key": key}

    def list(self):
        return self._run(lambda s: s.list_keys())

    def get(self, key_id):
        return self._run(lambda s: s.get_key(key_id))

    def update(self, key_id, changes):
        if changes.get("expires_at"):
            changes["expires_at"] = _naive(changes["expires_at"])
        return self._run(lambda s: s.update_key(key_id, changes, self.actor))

    def delete(self, key_id):
        return self._run(lambda s: s.delete_key(key_id, self.actor))

    def rotate(self, key_id):
        record, key = self._run(lambda s: s.rotate_key(key_id, self.actor))
        return {**record, "key": key}

    def usage(self, params, csv_out):
        from ollama_gateway.api.admin import _csv

        by = params["by"].split(",")
        filters = {
            "since": date.fromisoformat(params["since"]) if params.get("since") else None,
            "until": date.fromisoformat(params["until"]) if params.get("until") else None,
            "key_id": params.get("key"),
            "model": params.get("model"),
        }
        rows = self._run(lambda s: s.usage(by, **filters))
        if csv_out:
            return _csv(by, rows)
        return {"by": by, "rows": rows}


def _naive(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value


def open_target(url, api_key, database_url):
    """The admin API of the gateway at ``url``, or the database at ``database_url`` if given."""
    return Local(database_url) if database_url else Remote(url, api_key)
