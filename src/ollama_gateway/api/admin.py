"""The admin API (``/admin/...``, admin keys only) and ``/me`` (any key): keys, usage, audit.

=========================================  ================================================
``POST /admin/keys``                        create a key (201; the key itself, once)
``GET /admin/keys``                         list keys
``GET /admin/keys/{id}``                    one key
``PATCH /admin/keys/{id}``                  change fields (only those given; null clears)
``POST /admin/keys/{id}/disable|enable``    turn a key off / on
``POST /admin/keys/{id}/rotate``            a new key for the same record (the old one stops)
``DELETE /admin/keys/{id}``                 remove a key (204)
``GET /admin/usage``                        usage by key / model / day / api; JSON or CSV
``GET /admin/audit``                        who changed which key
``GET /me``                                 the calling key (no secrets)
``GET /me/usage``                           the calling key's own usage
=========================================  ================================================

Every change is written to the audit log (actor: the admin key's id or name) in the same
transaction, and announced to the key caches of every replica. Errors: ``{"detail": msg}``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable
from datetime import date, datetime, timezone
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import Response

from ollama_gateway.accounts.records import KeyRecord
from ollama_gateway.accounts.service import Accounts
from ollama_gateway.accounts.store import KeyNotFound, SqlStore
from ollama_gateway.errors import BadRequest, NotFound, ServiceUnavailable
from ollama_gateway.schemas.admin import (
    AuditLog,
    KeyCreate,
    KeyCreated,
    KeyList,
    KeyOut,
    KeyUpdate,
    Me,
    UsageReport,
)

router = APIRouter(tags=["admin"])

GROUPS = ("key", "model", "day", "api")
T = TypeVar("T")


async def get_accounts(request: Request) -> Accounts:
    accounts: Accounts = request.app.state.accounts
    return accounts


AccountsDep = Annotated[Accounts, Depends(get_accounts)]


def _caller(request: Request) -> KeyRecord | None:
    key: KeyRecord | None = request.scope.get("state", {}).get("api_key")
    return key


def _actor(request: Request) -> str:
    key = _caller(request)
    return key.subject if key is not None else "local"


def _store(accounts: Accounts) -> SqlStore:
    if accounts.store is None:
        raise ServiceUnavailable("the key database is not open")
    return accounts.store


def _naive_utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(timezone.utc).replace(tzinfo=None)


async def _call(work: Awaitable[T]) -> T:
    try:
        return await work
    except KeyNotFound as exc:
        raise NotFound(f"no key with id {exc.args[0]!r}") from None
    except SQLAlchemyError:
        raise ServiceUnavailable("the key database is unavailable", retry_after=5) from None


@router.post("/admin/keys", status_code=201, response_model=KeyCreated)
async def create_key(body: KeyCreate, request: Request, accounts: AccountsDep) -> dict[str, Any]:
    fields = body.model_dump()
    fields["expires_at"] = _naive_utc(body.expires_at)
    record, plaintext = await _call(_store(accounts).create_key(fields, _actor(request)))
    await accounts.changed(record["id"])
    return {**record, "key": plaintext}


@router.get("/admin/keys", response_model=KeyList)
async def list_keys(accounts: AccountsDep) -> dict[str, Any]:
    return {"keys": await _call(_store(accounts).list_keys())}


@router.get("/admin/keys/{key_id}", response_model=KeyOut)
async def get_key(key_id: str, accounts: AccountsDep) -> dict[str, Any]:
    return await _call(_store(accounts).get_key(key_id))


@router.patch("/admin/keys/{key_id}", response_model=KeyOut)
async def update_key(
    key_id: str, body: KeyUpdate, request: Request, accounts: AccountsDep
) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    if "expires_at" in changes:
        changes["expires_at"] = _naive_utc(body.expires_at)
    if not changes:
        raise BadRequest("nothing to change")
    if any(changes.get(f) is None for f in ("role", "weight", "disabled") if f in changes):
        raise BadRequest("role, weight and disabled cannot be null")
    record = await _call(_store(accounts).update_key(key_id, changes, _actor(request)))
    await accounts.changed(key_id)
    return record


async def _set_disabled(
    key_id: str, disabled: bool, request: Request, accounts: Accounts
) -> dict[str, Any]:
    store = _store(accounts)
    record = await _call(store.update_key(key_id, {"disabled": disabled}, _actor(request)))
    await accounts.changed(key_id)
    return record


@router.post("/admin/keys/{key_id}/disable", response_model=KeyOut)
async def disable_key(key_id: str, request: Request, accounts: AccountsDep) -> dict[str, Any]:
    return await _set_disabled(key_id, True, request, accounts)


@router.post("/admin/keys/{key_id}/enable", response_model=KeyOut)
async def enable_key(key_id: str, request: Request, accounts: AccountsDep) -> dict[str, Any]:
    return await _set_disabled(key_id, False, request, accounts)


@router.post("/admin/keys/{key_id}/rotate", response_model=KeyCreated)
async def rotate_key(key_id: str, request: Request, accounts: AccountsDep) -> dict[str, Any]:
    record, plaintext = await _call(_store(accounts).rotate_key(key_id, _actor(request)))
    await accounts.changed(key_id)
    return {**record, "key": plaintext}


@router.delete("/admin/keys/{key_id}", status_code=204)
async def delete_key(key_id: str, request: Request, accounts: AccountsDep) -> Response:
    await _call(_store(accounts).delete_key(key_id, _actor(request)))
    await accounts.changed(key_id)
    return Response(status_code=204)


@router.get("/admin/audit", response_model=AuditLog)
async def audit(
    accounts: AccountsDep,
    key: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> dict[str, Any]:
    return {"entries": await _call(_store(accounts).audit_log(key, limit))}


class UsageQuery:
    """The query parameters of the usage reports."""

    def __init__(
        self,
        by: Annotated[str, Query(max_length=40, description="key,model,day,api")] = "key",
        since: date | None = None,
        until: date | None = None,
        model: Annotated[str | None, Query(max_length=200)] = None,
        api: Annotated[str | None, Query(max_length=16)] = None,
        format: Literal["json", "csv"] = "json",
    ) -> None:
        groups = [g.strip() for g in by.split(",") if g.strip()]
        if not groups or any(g not in GROUPS for g in groups) or len(set(groups)) < len(groups):
            raise BadRequest("'by' takes key, model, day or api, comma-separated")
        if since is not None and until is not None and since > until:
            raise BadRequest("'since' is after 'until'")
        self.by, self.since, self.until = groups, since, until
        self.model, self.api, self.format = model, api, format


@router.get("/admin/usage", response_model=UsageReport)
async def usage(
    accounts: AccountsDep,
    query: Annotated[UsageQuery, Depends()],
    key: Annotated[str | None, Query(max_length=64)] = None,
) -> Any:
    return await _report(accounts, query, key)


@router.get("/me", response_model=Me)
async def me(request: Request) -> dict[str, Any]:
    key = _caller(request)
    if key is None:  # a gateway without keys: the caller can do everything
        return {"id": "", "source": "none", "name": "", "prefix": "", "role": "admin", "models": []}
    expires = datetime.fromtimestamp(key.expires_at, timezone.utc) if key.expires_at else None
    return {
        "id": key.id,
        "source": key.source,
        "name": key.key_id,
        "prefix": key.prefix,
        "role": key.role,
        "models": list(key.models),
        "rpm": key.rpm,
        "tpm": key.tpm,
        "tokens_per_day": key.tokens_per_day,
        "tokens_per_month": key.tokens_per_month,
        "requests_per_day": key.requests_per_day,
        "requests_per_month": key.requests_per_month,
        "max_concurrent": key.max_concurrent,
        "expires_at": expires,
    }


@router.get("/me/usage", response_model=UsageReport)
async def my_usage(
    request: Request, accounts: AccountsDep, query: Annotated[UsageQuery, Depends()]
) -> Any:
    key = _caller(request)
    return await _report(accounts, query, key.subject if key is not None else "-")


async def _report(accounts: Accounts, query: UsageQuery, key: str | None) -> Any:
    rows = await _call(
        _store(accounts).usage(
            query.by,
            since=query.since,
            until=query.until,
            key_id=key,
            model=query.model,
            api=query.api,
        )
    )
    for row in rows:
        if "key" in row:
            found = accounts.cache.by_id(row["key"])
            row["name"] = found.key_id if found is not None else row["key"]
    if query.format == "csv":
        return Response(_csv(query.by, rows), media_type="text/csv; charset=utf-8")
    return {"by": query.by, "since": query.since, "until": query.until, "rows": rows}


def _csv(by: list[str], rows: list[dict[str, Any]]) -> str:
    columns = [*by, *(["name"] if "key" in by else [])]
    columns += ["requests", "errors", "prompt_tokens", "generated_tokens", "total_tokens"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue()


def _cell(value: Any) -> Any:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text  # no spreadsheet formulas
