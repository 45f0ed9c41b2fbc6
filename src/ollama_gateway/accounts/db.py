"""The database: which one (a URL, or SQLite in the data directory), its engine, its migrations.

URLs as users write them are turned into SQLAlchemy's async dialects: ``postgresql://`` and
``postgres://`` use asyncpg, ``sqlite:///path`` uses aiosqlite. Migrations (Alembic, shipped in
the package) run when the gateway starts and by ``ollama-gateway db upgrade``; a database already
at the newest revision costs one query.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ollama_gateway.settings import Settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
HEAD = "0001_accounts"  # the newest revision in migrations/versions (a test keeps them equal)


class DatabaseError(RuntimeError):
    """The database cannot be used; the message says which and why, without its password."""


def database_url(settings: Settings) -> str:
    """The SQLAlchemy URL for the settings (the default: ``gateway.db`` in the data dir)."""
    if settings.database_url is not None:
        return async_url(settings.database_url.get_secret_value())
    return f"sqlite+aiosqlite:///{settings.resolved_data_dir / 'gateway.db'}"


def async_url(url: str) -> str:
    """``postgresql://u@h/db`` -> ``postgresql+asyncpg://u@h/db``; ``sqlite:///f`` likewise.

    >>> async_url("postgres://u:p@h:5432/db"), async_url("sqlite:///tmp/x.db")
    ('postgresql+asyncpg://u:p@h:5432/db', 'sqlite+aiosqlite:///tmp/x.db')
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise DatabaseError("the database URL must look like postgresql://... or sqlite:///PATH")
    base = scheme.split("+", 1)[0].lower()
    if base in ("postgres", "postgresql"):
        return f"postgresql+asyncpg://{rest}"
    if base == "sqlite":
        return f"sqlite+aiosqlite://{rest}"
    raise DatabaseError(f"unsupported database {base!r}: use postgresql:// or sqlite:///")


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the usage writer
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def create_engine(url: str) -> AsyncEngine:
    """An async engine; SQLite files get their directory (mode 700) and WAL mode."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        engine = create_async_engine(url)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_size=5, max_overflow=5, pool_pre_ping=True)


def _upgrade(connection: Connection) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        try:
            found = await conn.execute(text("SELECT version_num FROM alembic_version"))
        except SQLAlchemyError:
            return None
        return found.scalar()


async def migrate(engine: AsyncEngine) -> str:
    """Bring the schema to the newest revision; returns it."""
    try:
        if await current_revision(engine) == HEAD:
            return HEAD
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade)
    except (SQLAlchemyError, OSError, asyncio.TimeoutError) as exc:
        raise DatabaseError(
            f"cannot migrate the database {safe_url(str(engine.url))}: {_reason(exc)}"
        ) from None
    return HEAD


def _reason(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    return " ".join(str(original).split())[:300] or type(original).__name__
