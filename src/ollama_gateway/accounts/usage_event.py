"""One request's usage record, as the edge hands it to the usage writer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any


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

    def row(self) -> dict[str, Any]:
        return {
            "at": datetime.fromtimestamp(self.at, timezone.utc).replace(tzinfo=None),
            "key_id": self.key_id,
            "model": self.model,
            "api": self.api,
            "route": self.route,
            "status": self.status,
            "prompt_tokens": self.prompt_tokens,
            "generated_tokens": self.generated_tokens,
            "duration_ms": self.duration_ms,
            "ttft_ms": self.ttft_ms,
            "request_id": self.request_id,
        }
