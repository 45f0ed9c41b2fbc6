"""A key's share of its Redis limits, held by this process: most requests make no round trip.

With Redis, each process holds per key a :class:`Lease`: a few admissions taken out of the key's
shared rpm bucket and request quotas in advance, and a few of its ``max_concurrent`` slots. A
request that finds admissions and a slot in its process's lease is admitted in memory; only when
the lease is used up (or older than :data:`LEASE_TTL`) does one Lua call in Redis settle what the
process used and lease again (:mod:`.shared`). What requests used (generated tokens, quota
tokens, slots they no longer hold) is settled in the same call, or by a background flush at most
:data:`SETTLE_DELAY` later.

**Tolerance.** A lease is taken out of the shared budget before it is used, so the rpm limit, the
request quotas and ``max_concurrent`` are never exceeded across processes. The price is that
admissions and slots leased by one process but not used yet are not available to the others: at
most the lease size per process (1/64 of the limit, at most 64; unused admissions go back after
:data:`LEASE_TTL`, idle slots after the same). Token limits (tpm, token quotas) are checked
against the counts as of the last round trip, so with several processes they may be overshot by
what the others' leased requests generate before their next settle (at most one lease each).
Small limits (a lease of 1: rpm or a quota's remainder under 128, ``max_concurrent`` under 128)
are exact: every request makes its round trip and settles at once, as without leases.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING

from ollama_gateway.accounts.records import KeyRecord
from ollama_gateway.core.usage import Usage
from ollama_gateway.http.ratelimit import Headers

if TYPE_CHECKING:
    from ollama_gateway.accounts.shared import RedisShared

LEASE_SHARE = 64  # a lease is at most 1/64 of what a limit allows ...
MAX_LEASE = 64  # ... and at most this many admissions (slots)
LEASE_TTL = 1.0  # seconds an unused lease (idle slots) is held before it goes back
SETTLE_DELAY = 0.25  # seconds what requests used may wait to be settled in Redis
INF = float("inf")


class Lease:
    """One key's admissions and slots held by this process, and what it has yet to settle."""

    __slots__ = (
        "_rpm_header",
        "_tpm_header",
        "allowance",
        "caps",
        "charges",
        "chunk",
        "counts",
        "day",
        "expires",
        "gen",
        "keys",
        "last_used",
        "maxc",
        "queued",
        "r_level",
        "record",
        "releases",
        "rpm",
        "running",
        "shared",
        "size",
        "slots",
        "subject",
        "syncing",
        "t_level",
        "tokens_left",
        "total",
        "totals",
        "tpm",
    )

    def __init__(self, shared: RedisShared, counts: list[int] | None) -> None:
        self.shared = shared
        self.counts = counts  # this process's quota counts, kept warm for a fallback
        self.day: date | None = None
        self.keys: list[str] = []
        self.allowance = 0
        self.expires = 0.0
        self.slots = 0
        self.running = 0
        self.r_level = self.t_level = INF
        self.tokens_left = INF
        self.size = 1  # the first round trip learns how much is left
        self.gen = 0  # generated tokens not settled yet (tpm)
        self.total = 0  # prompt + generated tokens not settled yet (quotas)
        self.queued = False
        self.syncing: asyncio.Future | None = None
        self.last_used = 0.0
        self.rpm = self.tpm = self.maxc = 0

    def refresh(self, key: KeyRecord, rpm: int, tpm: int, counts: list[int] | None) -> None:
        self.record = key
        self.subject = key.subject
        self.rpm, self.tpm, self.maxc = rpm, tpm, key.max_concurrent or 0
        self.counts = counts
        self.caps = (
            key.tokens_per_day or 0,
            key.requests_per_day or 0,
            key.tokens_per_month or 0,
            key.requests_per_month or 0,
        )
        self.chunk = max(1, min(MAX_LEASE, self.maxc // LEASE_SHARE))
        self.size = min(self.size, self._size(INF))
        self._rpm_header = (b"x-ratelimit-limit", b"%d" % rpm)
        self._tpm_header = (b"x-ratelimit-limit-tokens", b"%d" % tpm)
        self.charges: list[Callable[[int], None]] = [self.charge] if tpm else []
        self.totals: list[Callable[[int], None]] = [self.add_total] if key.has_quota else []
        self.releases: list[Callable[[], None]] = [self.release] if self.maxc else []

    @property
    def urgent(self) -> bool:
        """Small limits (a lease of one): what a request used is settled at once."""
        return self.size == 1 or (self.maxc > 0 and self.chunk == 1)

    def _size(self, requests_left: float) -> int:
        room = min(self.rpm or INF, requests_left, self.tokens_left)
        return max(1, min(MAX_LEASE, int(room // LEASE_SHARE) if room != INF else MAX_LEASE))

    # -- the request path ---------------------------------------------------------------------
    def take(self, now: float) -> bool:
        """Admit one request from the lease, if it holds what the request needs."""
        if (
            self.allowance > 0
            and now < self.expires
            and self.tokens_left > 0
            and self.t_level >= 1.0
            and (self.running < self.slots or not self.maxc)
        ):
            self.allowance -= 1
            self.running += 1
            self.last_used = now
            return True
        return False

    def admission(self) -> tuple[Headers, Usage]:
        headers: Headers = []
        if self.rpm:
            left = max(0.0, self.r_level + self.allowance)
            headers = [
                self._rpm_header,
                (b"x-ratelimit-remaining", b"%d" % int(left)),
                (b"x-ratelimit-reset", b"%d" % math.ceil((self.rpm - left) * 60.0 / self.rpm)),
            ]
        if self.tpm:
            level = self.t_level
            headers += [
                self._tpm_header,
                (b"x-ratelimit-remaining-tokens", b"%d" % max(0, int(level))),
                (
                    b"x-ratelimit-reset-tokens",
                    b"%d" % math.ceil(max(0.0, self.tpm - level) * 60.0 / self.tpm),
                ),
            ]
        return headers, Usage(0, self.charges, 0, self.totals)

    def charge(self, tokens: int) -> None:
        """Generated tokens (tpm), settled later."""
        self.gen += tokens
        self.t_level -= tokens
        if not self.queued:
            self.shared.queue(self)

    def add_total(self, tokens: int) -> None:
        """Prompt + generated tokens (quotas), settled later."""
        self.total += tokens
        self.tokens_left -= tokens
        counts = self.counts
        if counts is not None:
            counts[0] += tokens
            counts[2] += tokens
        if not self.queued:
            self.shared.queue(self)

    def release(self) -> None:
        """A request ended: its slot stays with this process until the next settle."""
        self.running -= 1
        if not self.queued and self.slots - self.running > self.keep:
            self.shared.queue(self)

    @property
    def empty(self) -> bool:
        """Holds nothing and owes nothing (it may be forgotten)."""
        return not (
            self.allowance or self.slots or self.running or self.gen or self.total or self.syncing
        )

    @property
    def keep(self) -> int:
        """Idle slots this process keeps for its next requests (none for small limits)."""
        return self.chunk if self.chunk > 1 else 0

    # -- round trips ----------------------------------------------------------------------------
    def outgoing(self, want: bool, now: float) -> tuple[int, int, int, int, int, int, int]:
        """What to send (and take out of this lease until the answer comes back):
        (want, want slots, need slot, refund, generated, total, slots back)."""
        refund = 0
        if want or now >= self.expires:  # a new lease replaces it, or it is out of date
            refund, self.allowance = self.allowance, 0
        gen, self.gen = self.gen, 0
        total, self.total = self.total, 0
        keep = 0 if now - self.last_used >= LEASE_TTL else self.keep
        back = max(0, self.slots - self.running - keep)
        self.slots -= back
        need = 1 if want and self.maxc and self.running >= self.slots else 0
        return (self.size if want else 0, self.chunk if need else 0, need, refund, gen, total, back)

    def failed(self, sent: tuple[int, int, int, int, int, int, int]) -> None:
        """The round trip failed: put back what it took out (sent again next time)."""
        _, _, _, refund, gen, total, back = sent
        self.allowance += refund
        self.gen += gen
        self.total += total
        self.slots += back

    def answered(self, answer: list, now: float, leased: bool) -> int:
        """Apply Redis's answer; its code (0: admitted, else which limit refused)."""
        code, granted, slots, r_level, t_level, tokens_left, requests_left, _ = answer
        self.allowance += int(granted)
        self.slots += int(slots)
        self.r_level = float(r_level) if self.rpm else INF
        self.t_level = float(t_level) - self.gen if self.tpm else INF
        self.tokens_left = INF if tokens_left == b"u" else float(tokens_left) - self.total
        self.size = self._size(INF if requests_left == b"u" else float(requests_left))
        if leased:
            self.expires = now + LEASE_TTL
        return int(code)

    def taken(self, now: float) -> None:
        """The request that made the round trip takes its admission (and slot)."""
        self.allowance -= 1
        self.running += 1
        self.last_used = now
