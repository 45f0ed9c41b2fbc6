"""The admin API's bodies: keys (create, update, the key as shown), usage reports, the audit log.

Every field is bounded: names and labels by length, model lists by count, limits by range.
A key's plaintext appears in exactly one reply: :class:`KeyCreated` (create and rotate).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Role = Literal["admin", "user", "metrics"]
Name = Annotated[str, StringConstraints(max_length=200, pattern=r"^[^\s=]*$")]
Pattern = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Label = Annotated[str, StringConstraints(max_length=200)]
Count = Annotated[int, Field(ge=1, le=10**15)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KeyFields(_Strict):
    """What an admin sets on a key (every limit: None means none)."""

    name: Name = Field("", description="Owner or purpose, shown in logs, metrics and usage.")
    role: Role = Field(
        "user",
        description="admin: everything; user: inference and its models; metrics: /metrics only.",
    )
    models: list[Pattern] = Field(
        default_factory=list,
        max_length=256,
        description="Allowed models: names or glob patterns (qwen2*). Empty: all models.",
    )
    rpm: Count | None = Field(None, description="Requests per minute.")
    tpm: Count | None = Field(None, description="Generated tokens per minute.")
    tokens_per_day: Count | None = Field(None, description="Prompt + generated tokens, UTC day.")
    tokens_per_month: Count | None = Field(None, description="Prompt + generated, UTC month.")
    requests_per_day: Count | None = None
    requests_per_month: Count | None = None
    max_concurrent: Annotated[int, Field(ge=1, le=100_000)] | None = Field(
        None, description="Requests of this key generating at once."
    )
    weight: Annotated[int, Field(ge=1, le=100)] = Field(
        1, description="Share of a busy model's slots, against other keys (round-robin)."
    )
    expires_at: datetime | None = Field(None, description="When the key stops working.")
    disabled: bool = False
    labels: dict[Label, Label] = Field(
        default_factory=dict, max_length=32, description="Free-form, e.g. team, owner."
    )


class KeyCreate(KeyFields):
    pass


class KeyUpdate(_Strict):
    """Only the fields given change; null clears a limit."""

    name: Name | None = None
    role: Role | None = None
    models: list[Pattern] | None = Field(None, max_length=256)
    rpm: Count | None = None
    tpm: Count | None = None
    tokens_per_day: Count | None = None
    tokens_per_month: Count | None = None
    requests_per_day: Count | None = None
    requests_per_month: Count | None = None
    max_concurrent: Annotated[int, Field(ge=1, le=100_000)] | None = None
    weight: Annotated[int, Field(ge=1, le=100)] | None = None
    expires_at: datetime | None = None
    disabled: bool | None = None
    labels: dict[Label, Label] | None = Field(None, max_length=32)


class KeyOut(KeyFields):
    """A key as the admin API shows it: never the key itself nor its digest."""

    model_config = ConfigDict(extra="ignore")

    id: str
    prefix: str = Field(description="The key's first characters, to recognise it.")
    created_at: datetime
    updated_at: datetime
    last_used_at: datetime | None = None


class KeyCreated(KeyOut):
    key: str = Field(description="The key itself: shown once, here, and never again.")


class KeyList(BaseModel):
    keys: list[KeyOut]


class Me(BaseModel):
    """The key making the request (any role may ask)."""

    id: str = Field(description="Database id; empty for keys from settings or the keys file.")
    source: Literal["db", "env", "file", "none"]
    name: str
    prefix: str
    role: Role
    models: list[str]
    rpm: int | None = None
    tpm: int | None = None
    tokens_per_day: int | None = None
    tokens_per_month: int | None = None
    requests_per_day: int | None = None
    requests_per_month: int | None = None
    max_concurrent: int | None = None
    expires_at: datetime | None = None


GroupBy = Literal["key", "model", "day", "api"]


class UsageRow(BaseModel):
    key: str | None = Field(None, description="The key's id (env:/file: for bootstrap keys).")
    name: str | None = Field(None, description="The key's name, when grouped by key.")
    model: str | None = None
    day: date | None = None
    api: str | None = None
    requests: int
    errors: int
    prompt_tokens: int
    generated_tokens: int
    total_tokens: int


class UsageReport(BaseModel):
    by: list[GroupBy]
    since: date | None
    until: date | None
    rows: list[UsageRow]


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    key_id: str
    details: dict[str, Any]


class AuditLog(BaseModel):
    entries: list[AuditEntry]
