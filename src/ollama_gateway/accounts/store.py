"""The key store: one interface (:class:`KeyStore`), one implementation over SQLAlchemy.

Keys and the audit log are here; usage events, rollups and their queries in
:mod:`.usage_store`, whose :class:`UsageStore` :class:`SqlStore` extends.

:class:`SqlStore` serves SQLite and PostgreSQL alike. It is used off the request path only: by the
key cache (a reload every few seconds), the usage writer (batches), the admin API and the CLI.
Plaintext keys exist only in :meth:`create_key` and :meth:`rotate_key`'s return values.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Sequence
from datetime import date, datetime, timezone
from typing import Any, Protocol

from sqlalchemy import delete, func, select, update

from ollama_gateway.accounts.records import KeyRecord
from ollama_gateway.accounts.tables import (
    AuditRow,
    KeyRow,
    table_of,
)
from ollama_gateway.accounts.usage_event import UsageEvent
from ollama_gateway.accounts.usage_store import UsageStore, jsonable, utcnow

__all__ = ["KeyNotFound", "KeyStore", "SqlStore", "utcnow"]

KEY_PREFIX = "ogw_"
DISPLAY_PREFIX = 12
# The fields of a key an admin sets (create and update); everything else the store manages.
KEY_FIELDS = (
    "name",
    "role",
    "models",
    "rpm",
    "tpm",
    "tokens_per_day",
    "tokens_per_month",
    "requests_per_day",
    "requests_per_month",
    "max_concurrent",
    "weight",
    "expires_at",
    "disabled",
    "labels",
)


def new_key() -> str:
    """A fresh key: 32 random bytes, URL-safe base64, with a prefix secret scanners know."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hex_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyNotFound(LookupError):
    """No key with that id."""


class KeyStore(Protocol):
    """What the gateway needs from wherever keys, usage and the audit log are kept."""

    async def create_key(self, fields: dict[str, Any], actor: str) -> tuple[dict, str]: ...
    async def list_keys(self) -> list[dict[str, Any]]: ...
    async def get_key(self, key_id: str) -> dict[str, Any]: ...
    async def update_key(self, key_id: str, changes: dict[str, Any], actor: str) -> dict: ...
    async def delete_key(self, key_id: str, actor: str) -> None: ...
    async def rotate_key(self, key_id: str, actor: str) -> tuple[dict, str]: ...
    async def records(self) -> list[KeyRecord]: ...
    async def count_keys(self) -> int: ...
    async def write_usage(self, events: Sequence[UsageEvent]) -> None: ...
    async def usage(
        self,
        by: Sequence[str],
        since: date | None = None,
        until: date | None = None,
        key_id: str | None = None,
        model: str | None = None,
        api: str | None = None,
    ) -> list[dict[str, Any]]: ...
    async def quota_usage(self, today: date) -> dict[str, tuple[int, int, int, int]]: ...
    async def audit_log(self, key_id: str | None = None, limit: int = 100) -> list[dict]: ...
    async def prune_events(self, before: datetime) -> int: ...


def key_dict(row: KeyRow) -> dict[str, Any]:
    """A key as the admin API shows it (no digest, no plaintext)."""
    return {
        "id": row.id,
        "prefix": row.prefix,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "last_used_at": row.last_used_at,
        **{name: getattr(row, name) for name in KEY_FIELDS},
    }


def record_of(row: KeyRow) -> KeyRecord:
    expires = row.expires_at.replace(tzinfo=timezone.utc).timestamp() if row.expires_at else None
    return KeyRecord(
        digest=bytes.fromhex(row.digest),
        key_id=row.name or row.prefix,
        rpm=row.rpm,
        tpm=row.tpm,
        role=row.role,  # type: ignore[arg-type]  # a str column; written from Role values only
        id=row.id,
        prefix=row.prefix,
        models=tuple(row.models or ()),
        tokens_per_day=row.tokens_per_day,
        tokens_per_month=row.tokens_per_month,
        requests_per_day=row.requests_per_day,
        requests_per_month=row.requests_per_month,
        max_concurrent=row.max_concurrent,
        weight=row.weight or 1,
        expires_at=expires,
        disabled=row.disabled,
        source="db",
    )


class SqlStore(UsageStore):
    """:class:`KeyStore` over an async SQLAlchemy engine (SQLite or PostgreSQL): keys and the
    audit log here, usage in :class:`~ollama_gateway.accounts.usage_store.UsageStore`."""

    # -- keys -----------------------------------------------------------------------------
    async def create_key(self, fields: dict[str, Any], actor: str) -> tuple[dict, str]:
        plaintext = new_key()
        now = utcnow()
        row = KeyRow(
            id=uuid.uuid4().hex[:16],
            prefix=plaintext[:DISPLAY_PREFIX],
            digest=hex_digest(plaintext),
            created_at=now,
            updated_at=now,
            **_defaults(fields),
        )
        async with self.engine.begin() as conn:
            await conn.execute(table_of(KeyRow).insert().values(**_columns(row)))
            await self._audit(conn, actor, "create", row.id, _changes(fields))
        return key_dict(row), plaintext

    async def list_keys(self) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(KeyRow.__table__).order_by(KeyRow.created_at))).all()
        return [key_dict(_row(r)) for r in rows]

    async def get_key(self, key_id: str) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            return key_dict(await self._get(conn, key_id))

    async def update_key(self, key_id: str, changes: dict[str, Any], actor: str) -> dict:
        changes = {k: v for k, v in changes.items() if k in KEY_FIELDS}
        async with self.engine.begin() as conn:
            await self._get(conn, key_id)
            values = {**changes, "updated_at": utcnow()}
            if "models" in values and values["models"] is None:
                values["models"] = []
            if "labels" in values and values["labels"] is None:
                values["labels"] = {}
            await conn.execute(update(KeyRow).where(KeyRow.id == key_id).values(**values))
            action = "update"
            if set(changes) == {"disabled"}:
                action = "disable" if changes["disabled"] else "enable"
            await self._audit(conn, actor, action, key_id, _changes(changes))
            return key_dict(await self._get(conn, key_id))

    async def delete_key(self, key_id: str, actor: str) -> None:
        async with self.engine.begin() as conn:
            await self._get(conn, key_id)
            await conn.execute(delete(KeyRow).where(KeyRow.id == key_id))
            await self._audit(conn, actor, "delete", key_id, {})

    async def rotate_key(self, key_id: str, actor: str) -> tuple[dict, str]:
        plaintext = new_key()
        async with self.engine.begin() as conn:
            await self._get(conn, key_id)
            values = {
                "digest": hex_digest(plaintext),
                "prefix": plaintext[:DISPLAY_PREFIX],
                "updated_at": utcnow(),
            }
            await conn.execute(update(KeyRow).where(KeyRow.id == key_id).values(**values))
            await self._audit(conn, actor, "rotate", key_id, {"prefix": values["prefix"]})
            return key_dict(await self._get(conn, key_id)), plaintext

    async def records(self) -> list[KeyRecord]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(KeyRow.__table__))).all()
        return [record_of(_row(r)) for r in rows]

    async def count_keys(self) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(KeyRow))).scalar_one())

    async def _get(self, conn, key_id: str) -> KeyRow:
        found = (await conn.execute(select(KeyRow.__table__).where(KeyRow.id == key_id))).first()
        if found is None:
            raise KeyNotFound(key_id)
        return _row(found)

    # -- audit ----------------------------------------------------------------------------
    async def _audit(self, conn, actor: str, action: str, key_id: str, details: dict) -> None:
        await conn.execute(
            table_of(AuditRow)
            .insert()
            .values(at=utcnow(), actor=actor, action=action, key_id=key_id, details=details)
        )

    async def audit_log(self, key_id: str | None = None, limit: int = 100) -> list[dict]:
        query = select(AuditRow.__table__).order_by(AuditRow.id.desc()).limit(limit)
        if key_id is not None:
            query = query.where(AuditRow.key_id == key_id)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [dict(r) for r in rows]


def _row(result_row) -> KeyRow:
    return KeyRow(**result_row._mapping)


def _columns(row: KeyRow) -> dict[str, Any]:
    return {c.name: getattr(row, c.name) for c in KeyRow.__table__.columns}


def _defaults(fields: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": "",
        "role": "user",
        "models": [],
        "weight": 1,
        "disabled": False,
        "labels": {},
    }
    for name in KEY_FIELDS:
        if name in fields and fields[name] is not None:
            out[name] = fields[name]
        out.setdefault(name, None)
    return out


def _changes(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: jsonable(v) for k, v in fields.items() if k in KEY_FIELDS}
