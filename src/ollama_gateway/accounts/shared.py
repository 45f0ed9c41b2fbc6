"""Limits shared by every process and replica, atomic in Redis; key changes announced through it.

One Lua script (``SYNC``, one round trip) settles what a process used of a key's limits and leases
it a share of them again (:mod:`.lease`): the key's per-minute request and token buckets (the same
continuously refilled buckets as :mod:`ollama_gateway.http.ratelimit`), its daily and monthly
quota counters and its count of requests in flight, checked and updated together. Requests are
admitted from the lease in memory; what they used is settled by the next lease or by a background
task that pipelines the keys due (never on the request path). Times come from Redis (``TIME``), so
replicas' clocks do not matter for the buckets.

Key layout (one hash tag per key, so a Redis Cluster keeps a key's state on one shard)::

    ogw:{SUBJECT}:rpm  ogw:{SUBJECT}:tpm     bucket hashes {l: level, s: stamp}
    ogw:{SUBJECT}:d:YYYYMMDD  ogw:{SUBJECT}:m:YYYYMM   quota hashes {t: tokens, r: requests}
    ogw:{SUBJECT}:inflight                   requests in flight (all replicas)

Key changes: the admin API publishes the key's id on ``ogw:keys``; every replica's listener
reloads its key cache, so a revocation takes effect everywhere within milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import date

from ollama_gateway.accounts.lease import LEASE_TTL, SETTLE_DELAY, Lease
from ollama_gateway.accounts.records import KeyRecord

log = logging.getLogger(__name__)

CHANNEL = "ogw:keys"
FORGET_AFTER = 60.0  # seconds after which the lease of an unused key is dropped
DAY_TTL = 2 * 86400
MONTH_TTL = 35 * 86400

# KEYS: rpm bucket, tpm bucket, day hash, month hash, inflight
# ARGV: 1 rpm, 2 tpm, 3 tokens/day, 4 requests/day, 5 tokens/month, 6 requests/month,
#       7 max concurrent (0: none), 8 admissions wanted, 9 slots wanted, 10 a slot is needed (0/1),
#       11 admissions given back (unused), 12 generated tokens, 13 prompt + generated tokens,
#       14 slots given back
# What the process used is settled first (tokens, returned admissions and slots), then up to
# ARGV[8] admissions are leased (none: a settle only).
# -> {code, admissions, slots, rpm level, tpm level, token quota left, request quota left, wait}:
#    code 0 leased (levels: -1 and what is left: 'u' when unlimited); 1 rpm / 2 tpm (wait: s);
#    3..6 a quota (in ARGV order); 7 too many in flight
SYNC = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local rpm, tpm, maxc = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[7])
local want, refund = tonumber(ARGV[8]), tonumber(ARGV[11])
local gen, total, back = tonumber(ARGV[12]), tonumber(ARGV[13]), tonumber(ARGV[14])
local rl, rs, tl, ts = -1, now, -1, now
if rpm > 0 then
  local b = redis.call('HMGET', KEYS[1], 'l', 's')
  rl = tonumber(b[1]) or rpm
  rs = tonumber(b[2]) or now
  if now > rs then rl = rl + (now - rs) * rpm / 60.0; rs = now end
  rl = math.min(rpm, rl + refund)
end
if tpm > 0 then
  local b = redis.call('HMGET', KEYS[2], 'l', 's')
  tl = tonumber(b[1]) or tpm
  ts = tonumber(b[2]) or now
  if now > ts then tl = math.min(tpm, tl + (now - ts) * tpm / 60.0); ts = now end
  tl = tl - gen
end
local quota = false
for i = 3, 6 do if tonumber(ARGV[i]) > 0 then quota = true end end
local used = {0, 0, 0, 0}
if quota then
  if total > 0 then
    redis.call('HINCRBY', KEYS[3], 't', total)
    redis.call('HINCRBY', KEYS[4], 't', total)
  end
  if refund > 0 then
    redis.call('HINCRBY', KEYS[3], 'r', -refund)
    redis.call('HINCRBY', KEYS[4], 'r', -refund)
  end
  local d = redis.call('HMGET', KEYS[3], 't', 'r')
  local m = redis.call('HMGET', KEYS[4], 't', 'r')
  used = {tonumber(d[1]) or 0, tonumber(d[2]) or 0, tonumber(m[1]) or 0, tonumber(m[2]) or 0}
end
local n = 0
if maxc > 0 or back > 0 then
  if back > 0 then
    n = redis.call('DECRBY', KEYS[5], back)
    if n <= 0 then redis.call('DEL', KEYS[5]); n = 0 end
  else
    n = tonumber(redis.call('GET', KEYS[5]) or '0')
  end
end
local code, wait, g, s = 0, 0, 0, 0
if want > 0 then
  g = want
  if rpm > 0 then
    g = math.min(g, math.floor(rl))
    if g < 1 then code = 1; wait = (1 - rl) * 60.0 / rpm end
  end
  if code == 0 and tpm > 0 and tl < 1 then code = 2; wait = (1 - tl) * 60.0 / tpm end
  if code == 0 then
    for i = 1, 4 do
      local limit = tonumber(ARGV[i + 2])
      if limit > 0 then
        if used[i] >= limit then code = i + 2; break end
        if i % 2 == 0 then g = math.min(g, limit - used[i]) end
      end
    end
  end
  if code == 0 and maxc > 0 then
    s = math.max(0, math.min(tonumber(ARGV[9]), maxc - n))
    if tonumber(ARGV[10]) > 0 and s < 1 then code = 7; wait = 1 end
  end
  if code ~= 0 then g = 0; s = 0 end
end
if rpm > 0 then
  rl = rl - g
  redis.call('HSET', KEYS[1], 'l', tostring(rl), 's', tostring(rs))
  redis.call('EXPIRE', KEYS[1], 120)
end
if tpm > 0 then
  redis.call('HSET', KEYS[2], 'l', tostring(tl), 's', tostring(ts))
  redis.call('EXPIRE', KEYS[2], 120)
end
if quota then
  if g > 0 then
    redis.call('HINCRBY', KEYS[3], 'r', g)
    redis.call('HINCRBY', KEYS[4], 'r', g)
    used[2] = used[2] + g
    used[4] = used[4] + g
  end
  redis.call('EXPIRE', KEYS[3], DAY_TTL)
  redis.call('EXPIRE', KEYS[4], MONTH_TTL)
end
if s > 0 then
  redis.call('INCRBY', KEYS[5], s)
  redis.call('EXPIRE', KEYS[5], 3600)
end
local left = {'u', 'u'}  -- token quota, request quota: what is left ('u': unlimited)
for i = 1, 4 do
  local limit = tonumber(ARGV[i + 2])
  if limit > 0 then
    local j = 2 - i % 2
    if left[j] == 'u' or limit - used[i] < left[j] then left[j] = limit - used[i] end
  end
end
return {code, g, s, tostring(rl), tostring(tl), tostring(left[1]), tostring(left[2]),
  tostring(wait)}
""".replace("MONTH_TTL", str(MONTH_TTL)).replace("DAY_TTL", str(DAY_TTL))


def redis_keys(subject: str, today: date) -> list[str]:
    base = "ogw:{" + subject + "}:"
    return [
        base + "rpm",
        base + "tpm",
        base + "d:" + today.strftime("%Y%m%d"),
        base + "m:" + today.strftime("%Y%m"),
        base + "inflight",
    ]


class RedisShared:
    """The Redis connection, the sync script, the leases and their settling, key changes."""

    def __init__(self, url: str, timeout: float = 2.0) -> None:
        import redis.asyncio as aioredis

        self.redis = aioredis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry_on_timeout=False
        )
        # pub/sub waits for messages longer than any command may take: its own connection
        self.listener = aioredis.from_url(url, socket_connect_timeout=timeout)
        self._sync = self.redis.register_script(SYNC)
        self.leases: dict[bytes, Lease] = {}  # by key digest
        self._queued: list[Lease] = []
        self._wake = asyncio.Event()
        self._hurry = asyncio.Event()  # a lease of a small limit is queued: settle at once
        self._urgent = False
        self._tasks: list[asyncio.Task] = []
        self.round_trips = 0  # admissions that went to Redis (the rest came from leases)
        self.settle_failures = 0

    def lease_for(self, key: KeyRecord, rpm: int, tpm: int, counts: list[int] | None) -> Lease:
        lease = self.leases.get(key.digest)
        if lease is None:
            lease = self.leases[key.digest] = Lease(self, counts)
        lease.refresh(key, rpm, tpm, counts)
        return lease

    def _args(self, lease: Lease, today: date, sent: tuple) -> tuple[list[str], list]:
        if lease.day != today:
            lease.day = today
            lease.keys = redis_keys(lease.subject, today)
        return lease.keys, [lease.rpm, lease.tpm, *lease.caps, lease.maxc, *sent]

    async def sync(self, lease: Lease, today: date, now: float) -> tuple[int, float]:
        """Settle ``lease`` and lease again: (code, seconds to wait when refused)."""
        sent = lease.outgoing(True, now)
        keys, args = self._args(lease, today, sent)
        self.round_trips += 1
        try:
            answer = await self._sync(keys=keys, args=args)
        except BaseException:
            lease.failed(sent)
            raise
        return lease.answered(answer, now, True), float(answer[7])

    def queue(self, lease: Lease) -> None:
        """Settle what ``lease``'s requests used soon (at once for small limits)."""
        lease.queued = True
        self._queued.append(lease)
        if lease.urgent:
            self._urgent = True
            self._hurry.set()
        self._wake.set()

    async def seed(self, subject: str, today: date, counts: tuple[int, int, int, int]) -> None:
        """Quota counts from the database, where Redis has none yet (a fresh Redis)."""
        keys = redis_keys(subject, today)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hsetnx(keys[2], "t", counts[0])
        pipe.hsetnx(keys[2], "r", counts[1])
        pipe.expire(keys[2], DAY_TTL)
        pipe.hsetnx(keys[3], "t", counts[2])
        pipe.hsetnx(keys[3], "r", counts[3])
        pipe.expire(keys[3], MONTH_TTL)
        await pipe.execute()

    async def publish(self, key_id: str) -> None:
        await self.redis.publish(CHANNEL, key_id)

    def start(self, on_key_change: Callable[[], None]) -> None:
        self._tasks = [
            asyncio.create_task(self._settler(), name="redis-settle"),
            asyncio.create_task(self._listen(on_key_change), name="redis-keys"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await self.flush()
        await self.redis.aclose()
        await self.listener.aclose()

    async def _settler(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), LEASE_TTL)
                woken = True
            except asyncio.TimeoutError:
                woken = False  # a sweep only
            self._wake.clear()
            if woken and not self._urgent:
                # what more requests use goes in the same call, unless a small limit is waiting
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._hurry.wait(), SETTLE_DELAY)
            self._hurry.clear()
            self._urgent = False
            self._sweep(time.monotonic())
            try:
                await self.flush()
            except Exception as exc:
                self.settle_failures += 1
                log.warning("cannot settle usage in Redis: %s", exc)
                await asyncio.sleep(0.5)

    def _sweep(self, now: float) -> None:
        """Queue leases holding what they no longer use (out-of-date admissions, idle slots);
        forget those of keys unused for a minute that hold nothing."""
        forget = []
        for digest, lease in self.leases.items():
            if lease.queued:
                continue
            idle = now - lease.last_used >= LEASE_TTL
            if (lease.allowance and now >= lease.expires) or (idle and lease.slots > lease.running):
                lease.queued = True
                self._queued.append(lease)
            elif lease.empty and now - lease.last_used >= FORGET_AFTER:
                forget.append(digest)
        for digest in forget:
            del self.leases[digest]

    async def flush(self) -> None:
        """Settle every queued lease now: one pipelined call per key."""
        while self._queued:
            batch, self._queued = self._queued, []
            now = time.monotonic()
            sending = []
            pipe = self.redis.pipeline(transaction=False)
            for lease in batch:
                lease.queued = False
                sent = lease.outgoing(False, now)
                if any(sent):
                    keys, args = self._args(lease, lease.day or date.today(), sent)
                    await self._sync(keys=keys, args=args, client=pipe)  # queued, not sent
                    sending.append((lease, sent))
            if not sending:
                continue
            try:
                answers = await pipe.execute()
            except BaseException:
                for lease, sent in sending:
                    lease.failed(sent)
                    if not lease.queued:
                        lease.queued = True
                        self._queued.append(lease)
                raise
            for (lease, _), answer in zip(sending, answers, strict=True):
                lease.answered(answer, now, False)

    async def _listen(self, on_key_change: Callable[[], None]) -> None:
        while True:
            pubsub = self.listener.pubsub()
            try:
                await pubsub.subscribe(CHANNEL)
                on_key_change()  # changes missed while unsubscribed
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
                    if message is not None:
                        on_key_change()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("Redis key-change listener: %s; retrying", exc)
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
