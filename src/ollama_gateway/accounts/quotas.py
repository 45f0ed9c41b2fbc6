"""Daily and monthly quotas per key (tokens: prompt + generated; requests), counted per process.

Days and months are UTC. A request is admitted while every quota of its key has something left;
its request counts at admission, its tokens when its generation ends. A request admitted just
under a token quota runs to its end and is counted in full (a quota can be overshot by what the
requests in flight at that moment generate); the next request is refused with 429, the reset time
in the message and ``Retry-After`` set to the seconds until then.

The counts start from the database's daily rollups when the gateway starts. With Redis
(:mod:`.shared`) the same counts are kept atomically there, for every replica.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone

from ollama_gateway.accounts.records import KeyRecord
from ollama_gateway.errors import QuotaExceeded


def utc_today(now: float) -> date:
    return datetime.fromtimestamp(now, timezone.utc).date()


def next_day(today: date) -> date:
    return today + timedelta(days=1)


def next_month(today: date) -> date:
    return (today.replace(day=28) + timedelta(days=4)).replace(day=1)


def epoch(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp()


def quota_error(what: str, limit: int, period: str, resets: date, now: float) -> QuotaExceeded:
    at = f"{resets.isoformat()}T00:00:00Z"
    return QuotaExceeded(
        f"quota exceeded: {limit} {what} per {period}; it resets at {at}",
        retry_after=max(1.0, epoch(resets) - now),
    )


def check_counts(
    key: KeyRecord, counts: tuple[int, int, int, int], today: date, now: float
) -> None:
    """Raise :class:`QuotaExceeded` when one of ``key``'s quotas is used up.

    ``counts``: tokens today, requests today, tokens this month, requests this month.
    """
    day_tokens, day_requests, month_tokens, month_requests = counts
    for used, limit, what, period in (
        (day_tokens, key.tokens_per_day, "tokens", "day"),
        (day_requests, key.requests_per_day, "requests", "day"),
        (month_tokens, key.tokens_per_month, "tokens", "month"),
        (month_requests, key.requests_per_month, "requests", "month"),
    ):
        if limit is not None and used >= limit:
            resets = next_day(today) if period == "day" else next_month(today)
            raise quota_error(what, limit, period, resets, now)


class QuotaBook:
    """Per-process counts for keys that have quotas: [tokens, requests] per day and month."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._today = utc_today(clock())
        self._day_ends = epoch(next_day(self._today))  # the date is only recomputed then
        self._counts: dict[str, list[int]] = {}

    def seed(self, totals: dict[str, tuple[int, int, int, int]], today: date) -> None:
        """Counts from the database (keys not listed start at zero)."""
        self._today = today
        self._day_ends = epoch(next_day(today))
        for subject, counts in totals.items():
            self._counts[subject] = list(counts)

    def _roll(self, now: float) -> date:
        if now < self._day_ends:
            return self._today
        today = utc_today(now)
        self._day_ends = epoch(next_day(today))
        if today != self._today:
            new_month = (today.year, today.month) != (self._today.year, self._today.month)
            for counts in self._counts.values():
                counts[0] = counts[1] = 0
                if new_month:
                    counts[2] = counts[3] = 0
            self._today = today
        return today

    def counts(self, subject: str) -> tuple[int, int, int, int]:
        found = self._counts.get(subject)
        return (found[0], found[1], found[2], found[3]) if found else (0, 0, 0, 0)

    def admit(self, key: KeyRecord) -> None:
        """Check ``key``'s quotas and count one request (raises :class:`QuotaExceeded`)."""
        now = self.clock()
        today = self._roll(now)
        counts = self._counts.get(key.subject)
        if counts is None:
            counts = self._counts[key.subject] = [0, 0, 0, 0]
        check_counts(key, (counts[0], counts[1], counts[2], counts[3]), today, now)
        counts[1] += 1
        counts[3] += 1

    def charge(self, subject: str) -> Callable[[int], None]:
        def add(tokens: int) -> None:
            self._roll(self.clock())
            counts = self._counts.setdefault(subject, [0, 0, 0, 0])
            counts[0] += tokens
            counts[2] += tokens

        return add
