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
    """Per-process counts for keys that have quotas: [tokens, requests] per day and month.

    ``day_ends`` is when the UTC day ends on the monotonic clock the limits read anyway, so a
    request checks the day with one comparison; :meth:`roll` starts a new day (and month).
    """

    def __init__(
        self, clock: Callable[[], float] = time.time, mono: Callable[[], float] = time.monotonic
    ) -> None:
        self.clock = clock
        self.mono = mono
        self._counts: dict[str, list[int]] = {}
        self._today = utc_today(clock())
        self.day_ends = 0.0
        self._set_day(self._today)

    def _set_day(self, today: date) -> None:
        self._today = today
        self.day_ends = self.mono() + (epoch(next_day(today)) - self.clock())

    def seed(self, totals: dict[str, tuple[int, int, int, int]], today: date) -> None:
        """Counts from the database (keys not listed start at zero)."""
        self._set_day(today)
        for subject, counts in totals.items():
            self.counts_of(subject)[:] = counts

    @property
    def today(self) -> date:
        return self._today

    def roll(self) -> date:
        """A new UTC day (and month) when the clock says so: its counts start at zero."""
        today = utc_today(self.clock())
        if today != self._today:
            new_month = (today.year, today.month) != (self._today.year, self._today.month)
            for counts in self._counts.values():
                counts[0] = counts[1] = 0
                if new_month:
                    counts[2] = counts[3] = 0
        self._set_day(today)
        return today

    def counts_of(self, subject: str) -> list[int]:
        """The live counts of ``subject`` (tokens, requests today; tokens, requests this month)."""
        found = self._counts.get(subject)
        if found is None:
            found = self._counts[subject] = [0, 0, 0, 0]
        return found

    def counts(self, subject: str) -> tuple[int, int, int, int]:
        found = self._counts.get(subject)
        return (found[0], found[1], found[2], found[3]) if found else (0, 0, 0, 0)

    def refuse(self, key: KeyRecord, counts: list[int]) -> None:
        """Raise the :class:`QuotaExceeded` of the first of ``key``'s quotas used up."""
        check_counts(key, (counts[0], counts[1], counts[2], counts[3]), self._today, self.clock())
