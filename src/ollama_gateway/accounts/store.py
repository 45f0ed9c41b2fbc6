"""The key store: one interface (:class:`KeyStore`), one implementation over SQLAlchemy.

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
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from ollama_gateway.accounts.records import KeyRecord
from ollama_gateway.accounts.tables import (
    AuditRow,
    KeyRow,
    UsageDailyRow,
    UsageEventRow,
    table_of,
)
from ollama_gateway.accounts.usage_event import UsageEvent

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
GROUPS = {"key": "key_id", "model": "model", "day": "day", "api": "api"}
# The columns of UsageEvent.row(), in its order.
EVENT_COLUMNS = [
    "at",
    "key_id",
    "model",
    "api",
    "route",
    "status",
    "prompt_tokens",
    "generated_tokens",
    "duration_ms",
    "ttft_ms",
    "request_id",
]
_SQLITE_INSERT = (  # built from the constant column list above, never from input
    f"INSERT INTO usage_events ({', '.join(EVENT_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join('?' * len(EVENT_COLUMNS))})"
)
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"


def utcnow() -> datetime:
    """Naive UTC, as the tables store times."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


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


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime | date) else value


class SqlStore:
    """:class:`KeyStore` over an async SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: AsyncEngine, bulk: bool = True) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        # Raw events through the driver's own bulk path (asyncpg's binary COPY, sqlite3's
        # executemany) instead of SQLAlchemy's per-row processing: several times less CPU per
        # event, measured side by side in bench/accounts.py (the writer shares the gateway's
        # process, so its CPU is the requests' CPU).
        self.bulk = bulk

    async def close(self) -> None:
        await self.engine.dispose()

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

    # -- usage ----------------------------------------------------------------------------
    async def write_usage(self, events: Sequence[UsageEvent]) -> None:
        """Insert a batch of events, add them to the daily rollups, stamp keys' last use."""
        if not events:
            return
        rows = [e.row() for e in events]
        rollups: dict[tuple, list] = {}
        last_used: dict[str, datetime] = {}
        for e, row in zip(events, rows, strict=True):
            group = (row["at"].date(), e.key_id, e.model, e.api)
            acc = rollups.setdefault(group, [0, 0, 0, 0, 0.0])
            acc[0] += 1
            acc[1] += e.status >= 400
            acc[2] += e.prompt_tokens
            acc[3] += e.generated_tokens
            acc[4] += e.duration_ms
            if e.stored_key:
                last_used[e.key_id] = max(last_used.get(e.key_id, row["at"]), row["at"])
        async with self.engine.begin() as conn:
            await self._insert_events(conn, rows)
            await conn.execute(self._rollup_upsert(rollups))
            for key_id, at in last_used.items():
                await conn.execute(
                    update(KeyRow).where(KeyRow.id == key_id).values(last_used_at=at)
                )

    async def _insert_events(self, conn, rows: list[dict[str, Any]]) -> None:
        if not self.bulk:
            await conn.execute(table_of(UsageEventRow).insert(), rows)
            return
        raw = (await conn.get_raw_connection()).driver_connection  # this transaction's
        if self.dialect == "postgresql":
            await raw.copy_records_to_table(
                "usage_events", records=[tuple(r.values()) for r in rows], columns=EVENT_COLUMNS
            )
        else:  # SQLite: DATETIME as SQLAlchemy stores it
            for r in rows:
                r["at"] = r["at"].strftime(_SQLITE_TIME)
            await raw.executemany(_SQLITE_INSERT, [tuple(r.values()) for r in rows])

    def _rollup_upsert(self, rollups: dict[tuple, list]):
        table = table_of(UsageDailyRow)
        values = [
            {
                "day": day,
                "key_id": key_id,
                "model": model,
                "api": api,
                "requests": acc[0],
                "errors": acc[1],
                "prompt_tokens": acc[2],
                "generated_tokens": acc[3],
                "duration_ms": acc[4],
            }
            for (day, key_id, model, api), acc in rollups.items()
        ]
        insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        statement = insert(table).values(values)
        added = ("requests", "errors", "prompt_tokens", "generated_tokens", "duration_ms")
        return statement.on_conflict_do_update(
            index_elements=["day", "key_id", "model", "api"],
            set_={name: table.c[name] + statement.excluded[name] for name in added},
        )

    async def usage(
        self,
        by: Sequence[str],
        since: date | None = None,
        until: date | None = None,
        key_id: str | None = None,
        model: str | None = None,
        api: str | None = None,
    ) -> list[dict[str, Any]]:
        """Totals from the daily rollups grouped ``by`` key / model / day / api, filtered."""
        table = UsageDailyRow.__table__
        columns = [table.c[GROUPS[name]] for name in by]
        sums = [
            func.sum(table.c[name]).label(name)
            for name in ("requests", "errors", "prompt_tokens", "generated_tokens")
        ]
        query = select(*columns, *sums).group_by(*columns).order_by(*columns)
        for column, value, op in (
            ("day", since, "ge"),
            ("day", until, "le"),
            ("key_id", key_id, "eq"),
            ("model", model, "eq"),
            ("api", api, "eq"),
        ):
            if value is not None:
                query = query.where(getattr(table.c[column], f"__{op}__")(value))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        out = []
        for row in rows:
            item = {name: _jsonable(row[GROUPS[name]]) for name in by}
            for name in ("requests", "errors", "prompt_tokens", "generated_tokens"):
                item[name] = int(row[name] or 0)
            item["total_tokens"] = item["prompt_tokens"] + item["generated_tokens"]
            out.append(item)
        return out

    async def quota_usage(self, today: date) -> dict[str, tuple[int, int, int, int]]:
        """Per key: (tokens today, requests today, tokens this month, requests this month)."""
        table = UsageDailyRow.__table__
        month_start = today.replace(day=1)
        tokens = table.c.prompt_tokens + table.c.generated_tokens
        query = (
            select(table.c.key_id, table.c.day, func.sum(tokens), func.sum(table.c.requests))
            .where(table.c.day >= month_start)
            .group_by(table.c.key_id, table.c.day)
        )
        out: dict[str, list[int]] = {}
        async with self.engine.connect() as conn:
            for key_id, day, used, requests in (await conn.execute(query)).all():
                acc = out.setdefault(key_id, [0, 0, 0, 0])
                if day == today:
                    acc[0] += int(used or 0)
                    acc[1] += int(requests or 0)
                acc[2] += int(used or 0)
                acc[3] += int(requests or 0)
        return {k: (v[0], v[1], v[2], v[3]) for k, v in out.items()}

    async def prune_events(self, before: datetime) -> int:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                delete(table_of(UsageEventRow)).where(UsageEventRow.at < before)
            )
        return int(result.rowcount or 0)

    async def events(self, limit: int = 1000) -> list[dict[str, Any]]:
        """The newest raw events (for tests and the CLI)."""
        query = select(UsageEventRow.__table__).order_by(UsageEventRow.id.desc()).limit(limit)
        async with self.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(query)).mappings().all()]


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
    return {k: _jsonable(v) for k, v in fields.items() if k in KEY_FIELDS}
