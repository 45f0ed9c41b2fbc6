"""Limits shared by every process and replica, atomic in Redis; key changes announced through it.

One Lua script admits a request (one round trip): the key's per-minute request and token buckets
(the same continuously refilled buckets as :mod:`ollama_gateway.http.ratelimit`), its daily and
monthly quota counters and its count of requests in flight, checked and updated together. What a
request used is settled afterwards by a second script, sent by a background task that pipelines
whatever is pending (never on the request path). Times come from Redis (``TIME``), so replicas'
clocks do not matter for the buckets.

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
from collections.abc import Callable
from datetime import date

from ollama_gateway.accounts.records import KeyRecord

log = logging.getLogger(__name__)

CHANNEL = "ogw:keys"
DAY_TTL = 2 * 86400
MONTH_TTL = 35 * 86400

# KEYS: rpm bucket, tpm bucket, day hash, month hash, inflight
# ARGV: rpm, tpm, tokens/day, requests/day, tokens/month, requests/month, max concurrent (0: none)
# -> {code, a, b}: 0 admitted (a, b: rpm and tpm levels left, -1 when unlimited);
#    1 rpm / 2 tpm (a: seconds to wait); 3..6 a quota (in ARGV order); 7 too many in flight
ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local rpm = tonumber(ARGV[1])
local tpm = tonumber(ARGV[2])
local rl, rs, tl, ts
if rpm > 0 then
  local b = redis.call('HMGET', KEYS[1], 'l', 's')
  rl = tonumber(b[1]) or rpm
  rs = tonumber(b[2]) or now
  if now > rs then rl = math.min(rpm, rl + (now - rs) * rpm / 60.0); rs = now end
  if rl < 1 then return {1, tostring((1 - rl) * 60.0 / rpm), tostring(rl)} end
end
if tpm > 0 then
  local b = redis.call('HMGET', KEYS[2], 'l', 's')
  tl = tonumber(b[1]) or tpm
  ts = tonumber(b[2]) or now
  if now > ts then tl = math.min(tpm, tl + (now - ts) * tpm / 60.0); ts = now end
  if tl < 1 then return {2, tostring((1 - tl) * 60.0 / tpm), tostring(tl)} end
end
local quota = false
for i = 3, 6 do if tonumber(ARGV[i]) > 0 then quota = true end end
if quota then
  local d = redis.call('HMGET', KEYS[3], 't', 'r')
  local m = redis.call('HMGET', KEYS[4], 't', 'r')
  local used = {tonumber(d[1]) or 0, tonumber(d[2]) or 0, tonumber(m[1]) or 0, tonumber(m[2]) or 0}
  for i = 1, 4 do
    local limit = tonumber(ARGV[i + 2])
    if limit > 0 and used[i] >= limit then return {i + 2, '0', '0'} end
  end
end
local maxc = tonumber(ARGV[7])
if maxc > 0 then
  local n = tonumber(redis.call('GET', KEYS[5]) or '0')
  if n >= maxc then return {7, '1', tostring(n)} end
  redis.call('INCR', KEYS[5])
  redis.call('EXPIRE', KEYS[5], 3600)
end
if rpm > 0 then
  rl = rl - 1
  redis.call('HSET', KEYS[1], 'l', tostring(rl), 's', tostring(rs))
  redis.call('EXPIRE', KEYS[1], 120)
end
if tpm > 0 then
  redis.call('HSET', KEYS[2], 'l', tostring(tl), 's', tostring(ts))
  redis.call('EXPIRE', KEYS[2], 120)
end
if quota then
  redis.call('HINCRBY', KEYS[3], 'r', 1)
  redis.call('EXPIRE', KEYS[3], DAY_TTL)
  redis.call('HINCRBY', KEYS[4], 'r', 1)
  redis.call('EXPIRE', KEYS[4], MONTH_TTL)
end
return {0, tostring(rl or -1), tostring(tl or -1)}
""".replace("MONTH_TTL", str(MONTH_TTL)).replace("DAY_TTL", str(DAY_TTL))

# KEYS: tpm bucket, day hash, month hash, inflight
# ARGV: generated tokens, prompt + generated tokens, tpm (0: none), quota (0/1), release (0/1)
SETTLE = """
local gen = tonumber(ARGV[1])
local total = tonumber(ARGV[2])
local tpm = tonumber(ARGV[3])
if tpm > 0 and gen > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
  local b = redis.call('HMGET', KEYS[1], 'l', 's')
  local l = tonumber(b[1]) or tpm
  local s = tonumber(b[2]) or now
  if now > s then l = math.min(tpm, l + (now - s) * tpm / 60.0); s = now end
  redis.call('HSET', KEYS[1], 'l', tostring(l - gen), 's', tostring(s))
  redis.call('EXPIRE', KEYS[1], 120)
end
if tonumber(ARGV[4]) > 0 and total > 0 then
  redis.call('HINCRBY', KEYS[2], 't', total)
  redis.call('EXPIRE', KEYS[2], DAY_TTL)
  redis.call('HINCRBY', KEYS[3], 't', total)
  redis.call('EXPIRE', KEYS[3], MONTH_TTL)
end
if tonumber(ARGV[5]) > 0 then
  local n = redis.call('DECR', KEYS[4])
  if n <= 0 then redis.call('DEL', KEYS[4]) end
end
return 1
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
    """The Redis connection, its two scripts, the settle queue and the key-change listener."""

    def __init__(self, url: str, timeout: float = 2.0) -> None:
        import redis.asyncio as aioredis

        self.redis = aioredis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry_on_timeout=False
        )
        # pub/sub waits for messages longer than any command may take: its own connection
        self.listener = aioredis.from_url(url, socket_connect_timeout=timeout)
        self._admit = self.redis.register_script(ADMIT)
        self._settle = self.redis.register_script(SETTLE)
        self._pending: list[tuple[list[str], list[int]]] = []
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self.settle_failures = 0

    async def admit(self, key: KeyRecord, rpm: int, tpm: int, today: date) -> list:
        args = [
            rpm,
            tpm,
            key.tokens_per_day or 0,
            key.requests_per_day or 0,
            key.tokens_per_month or 0,
            key.requests_per_month or 0,
            key.max_concurrent or 0,
        ]
        code, a, b = await self._admit(keys=redis_keys(key.subject, today), args=args)
        return [int(code), float(a), float(b)]

    def settle(
        self, key: KeyRecord, today: date, generated: int, total: int, tpm: int, release: bool
    ) -> None:
        """Queue what a request used (sent by the background task, pipelined)."""
        keys = redis_keys(key.subject, today)
        quota = 1 if key.has_quota else 0
        self._pending.append(
            ([keys[1], keys[2], keys[3], keys[4]], [generated, total, tpm, quota, int(release)])
        )
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
            await self._flush()
        await self.redis.aclose()
        await self.listener.aclose()

    async def _settler(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._flush()
            except Exception as exc:
                self.settle_failures += 1
                log.warning("cannot settle usage in Redis: %s", exc)
                await asyncio.sleep(0.5)

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            pipe = self.redis.pipeline(transaction=False)
            for keys, args in batch:
                await self._settle(keys=keys, args=args, client=pipe)  # queued, not sent
            await pipe.execute()

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
