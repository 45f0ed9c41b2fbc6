"""One request's usage record, as the edge hands it to the usage writer."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class UsageEvent:
    at: float  # Unix seconds
    key_id: str  # the key's subject: database id, or "env:<id>" / "file:<id>" / "-" (no keys)
    model: str
    api: str  # seed, ollama, openai, admin, other
    route: str
    status: int
    prompt_tokens: int
    generated_tokens: int
    duration_ms: float
    ttft_ms: float | None
    request_id: str
    stored_key: bool = False  # the key is a database row (its last use is stamped)
