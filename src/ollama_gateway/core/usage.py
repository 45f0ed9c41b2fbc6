"""What one request consumed, reported by the serving code to whoever admitted the request.

The HTTP edge (rate limits, quotas) sets :data:`current_usage` for each request; the generation
service calls :meth:`Usage.add` with the prompt and generated tokens as soon as the final chunk
reports them (before the client sees the end of the reply), so that the client's next request
already meets the reduced budget. The serving code needs no knowledge of who is asking.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass(slots=True)
class Usage:
    """Tokens one request used, and the callbacks that charge them.

    ``charges`` receive the generated tokens (per-minute token buckets); ``totals`` receive
    prompt + generated tokens (daily and monthly quotas).
    """

    tokens: int = 0
    charges: list[Callable[[int], None]] = field(default_factory=list)
    prompt_tokens: int = 0
    totals: list[Callable[[int], None]] = field(default_factory=list)

    def add(self, tokens: int, prompt_tokens: int = 0) -> None:
        self.tokens += tokens
        self.prompt_tokens += prompt_tokens
        if tokens:
            for charge in self.charges:
                charge(tokens)
        if tokens or prompt_tokens:
            for total in self.totals:
                total(tokens + prompt_tokens)


current_usage: ContextVar[Usage | None] = ContextVar("ollama_gateway_usage", default=None)
