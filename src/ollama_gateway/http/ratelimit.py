"""Per-key rate limits: requests per minute and generated tokens per minute.

Each limited client has up to two token buckets, refilled continuously:

- requests: holds ``rpm``, refills ``rpm / 60`` per second; each request takes one. A request
  arriving to an empty bucket gets 429 with ``Retry-After`` = seconds until one is back.
- tokens: holds ``tpm``, refills ``tpm / 60`` per second; after a generation its generated token
  count (``eval_count`` of the final chunk) is taken out, which may leave the bucket in debt. While
  less than one token is left, requests get 429 with ``Retry-After`` = seconds until it is.

Who is limited: with API keys configured, each key (its ``rpm=`` / ``tpm=`` from the keys file,
else ``rate_limit_rpm`` / ``rate_limit_tpm``); without keys, each client address with the defaults.
No limit configured: nothing is counted and no headers are sent.

Replies carry ``X-RateLimit-Limit`` (rpm), ``X-RateLimit-Remaining`` (requests left now) and
``X-RateLimit-Reset`` (seconds until the bucket is full again), plus ``-Tokens`` variants of the
three when a token limit applies. State is per process (per uvicorn worker).

The service reports generated tokens through :data:`ollama_gateway.core.usage.current_usage`, a
context variable the middleware sets for each request.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from ollama_gateway.core.usage import Usage
from ollama_gateway.errors import RateLimited
from ollama_gateway.http.auth import ApiKey
from ollama_gateway.settings import Settings

Headers = list[tuple[bytes, bytes]]

# The reply headers, as CORS must expose them to browsers.
RATE_LIMIT_HEADERS = [
    f"X-RateLimit-{what}{suffix}"
    for suffix in ("", "-Tokens")
    for what in ("Limit", "Remaining", "Reset")
]


@dataclass(slots=True)
class Bucket:
    """A continuously refilled token bucket (``level`` may go negative: debt)."""

    capacity: float
    rate: float  # per second
    level: float
    stamp: float

    def refill(self, now: float) -> float:
        if now > self.stamp:
            self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
            self.stamp = now
        return self.level

    def wait_for(self, amount: float) -> float:
        """Seconds until ``amount`` is available (after a refill)."""
        return max(0.0, (amount - self.level) / self.rate)

    def charge_at(self, clock: Callable[[], float]) -> Callable[[int], None]:
        """A callback that takes ``tokens`` out of this bucket (it may go into debt)."""

        def charge(tokens: int) -> None:
            self.refill(clock())
            self.level -= tokens

        return charge

    def until_full(self) -> int:
        return math.ceil(max(0.0, self.capacity - self.level) / self.rate)


@dataclass(slots=True)
class Client:
    requests: Bucket | None
    tokens: Bucket | None


@dataclass(slots=True)
class Admission:
    """An admitted request: the headers to add to its reply and its usage record."""

    headers: Headers
    usage: Usage


class KeyRateLimited(RateLimited):
    """429 carrying the rate-limit headers beside ``Retry-After``."""

    def __init__(self, message: str, retry_after: float, extra: Headers) -> None:
        super().__init__(message, retry_after=retry_after)
        self.extra = extra

    def headers(self) -> dict[str, str]:
        out = super().headers()
        for name, value in self.extra:
            out[name.decode()] = value.decode()
        return out


class RateLimiter:
    """Buckets per client, created on first use and forgotten once idle and full again."""

    def __init__(
        self,
        rpm: int | None,
        tpm: int | None,
        keyed: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rpm = rpm
        self.tpm = tpm
        self.keyed = keyed
        self.clock = clock
        self._clients: dict[object, Client] = {}
        self._sweep_at = 1024

    @classmethod
    def from_settings(cls, settings: Settings, keyed: bool) -> RateLimiter:
        """``keyed``: API keys are configured (then keys are limited, not addresses)."""
        return cls(settings.rate_limit_rpm, settings.rate_limit_tpm, keyed=keyed)

    @property
    def enabled(self) -> bool:
        """Whether any request can be limited (defaults set, or per-key limits possible)."""
        return self.keyed or self.rpm is not None or self.tpm is not None

    def admit(self, key: ApiKey | None, address: str | None) -> Admission | None:
        """Count one request, or raise :class:`KeyRateLimited`. None: this client is unlimited."""
        if key is not None:
            ident: object = key.digest
            rpm = key.rpm or self.rpm
            tpm = key.tpm or self.tpm
        else:
            ident, rpm, tpm = address or "-", self.rpm, self.tpm
        if rpm is None and tpm is None:
            return None
        now = self.clock()
        client = self._clients.get(ident)
        if client is None:
            if len(self._clients) >= self._sweep_at:
                self._sweep(now)
            client = self._clients[ident] = Client(
                Bucket(rpm, rpm / 60.0, rpm, now) if rpm else None,
                Bucket(tpm, tpm / 60.0, tpm, now) if tpm else None,
            )
        requests, tokens = client.requests, client.tokens
        wait = 0.0
        what = ""
        if requests is not None and requests.refill(now) < 1.0:
            wait, what = requests.wait_for(1.0), f"{rpm} request{'s' if rpm != 1 else ''}"
        if tokens is not None and tokens.refill(now) < 1.0 and tokens.wait_for(1.0) > wait:
            wait, what = tokens.wait_for(1.0), f"{tpm} generated token{'s' if tpm != 1 else ''}"
        if what:
            raise KeyRateLimited(
                f"rate limit exceeded: {what} per minute; retry in {math.ceil(wait)} s",
                wait,
                _headers(client),
            )
        if requests is not None:
            requests.level -= 1.0
        charges = [tokens.charge_at(self.clock)] if tokens is not None else []
        return Admission(_headers(client), Usage(0, charges))

    def _sweep(self, now: float) -> None:
        """Forget clients whose buckets are full again (they would be recreated identical)."""
        idle = [
            ident
            for ident, c in self._clients.items()
            if all(b is None or b.refill(now) >= b.capacity for b in (c.requests, c.tokens))
        ]
        for ident in idle:
            del self._clients[ident]
        self._sweep_at = max(1024, 2 * len(self._clients))


def _headers(client: Client) -> Headers:
    out: Headers = []
    for bucket, suffix in ((client.requests, b""), (client.tokens, b"-tokens")):
        if bucket is not None:
            out.append((b"x-ratelimit-limit" + suffix, b"%d" % bucket.capacity))
            out.append((b"x-ratelimit-remaining" + suffix, b"%d" % max(0, int(bucket.level))))
            out.append((b"x-ratelimit-reset" + suffix, b"%d" % bucket.until_full()))
    return out
