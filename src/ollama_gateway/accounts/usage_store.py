"""Usage in the database: raw events written in batches, daily rollups, and their queries.

:class:`UsageStore` holds the engine; :class:`~ollama_gateway.accounts.store.SqlStore` adds the
keys and the audit log to it. Writing is the usage writer's (:mod:`.recorder`), off the request
path; raw events go through the driver's own bulk path (asyncpg's binary COPY, sqlite3's
``executemany``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from ollama_gateway.accounts.tables import KeyRow, UsageDailyRow, UsageEventRow, table_of
from ollama_gateway.accounts.usage_event import UsageEvent

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


def jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime | date) else value


# Keys' last use, one statement for a batch (executemany), built once.
_STAMP_LAST_USED = (
    update(KeyRow).where(KeyRow.id == bindparam("k")).values(last_used_at=bindparam("t"))
)


class UsageStore:
    """Usage events and rollups over an async SQLAlchemy engine (SQLite or PostgreSQL)."""

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

    # -- usage ----------------------------------------------------------------------------
    async def write_usage(self, events: Sequence[UsageEvent]) -> None:
        """Insert a batch of events, add them to the daily rollups, stamp keys' last use."""
        if not events:
            return
        rows = []
        rollups: dict[tuple, list] = {}
        last_used: dict[str, datetime] = {}
        for e in events:
            at = datetime.fromtimestamp(e.at, timezone.utc).replace(tzinfo=None)
            rows.append(
                (
                    at,
                    e.key_id,
                    e.model,
                    e.api,
                    e.route,
                    e.status,
                    e.prompt_tokens,
                    e.generated_tokens,
                    e.duration_ms,
                    e.ttft_ms,
                    e.request_id,
                )
            )
            group = (at.date(), e.key_id, e.model, e.api)
            acc = rollups.get(group)
            if acc is None:
                acc = rollups[group] = [0, 0, 0, 0, 0.0]
            acc[0] += 1
            acc[1] += e.status >= 400
            acc[2] += e.prompt_tokens
            acc[3] += e.generated_tokens
            acc[4] += e.duration_ms
            if e.stored_key:
                last_used[e.key_id] = at  # events are buffered in the order they ended
        async with self.engine.begin() as conn:
            await self._insert_events(conn, rows)
            await conn.execute(self._rollup_upsert(rollups))
            if last_used:
                stamps = [{"k": key_id, "t": at} for key_id, at in last_used.items()]
                await conn.execute(_STAMP_LAST_USED, stamps)

    async def _insert_events(self, conn, rows: list[tuple]) -> None:
        if not self.bulk:
            values = [dict(zip(EVENT_COLUMNS, row, strict=True)) for row in rows]
            await conn.execute(table_of(UsageEventRow).insert(), values)
            return
        raw = (await conn.get_raw_connection()).driver_connection  # this transaction's
        if self.dialect == "postgresql":
            await raw.copy_records_to_table("usage_events", records=rows, columns=EVENT_COLUMNS)
        else:  # SQLite: DATETIME as SQLAlchemy stores it
            await raw.executemany(
                _SQLITE_INSERT, [(r[0].strftime(_SQLITE_TIME), *r[1:]) for r in rows]
            )

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
            item = {name: jsonable(row[GROUPS[name]]) for name in by}
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
