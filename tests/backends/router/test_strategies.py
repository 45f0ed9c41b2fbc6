"""Routing strategies on real Upstream objects: warmth, load, weights, affinity, full ones."""

from __future__ import annotations

from collections import Counter

import pytest

from ollama_gateway.backends.router.strategies import (
    Affinity,
    LeastInFlight,
    RoundRobin,
    session_key,
)
from ollama_gateway.backends.router.upstream import Upstream
from ollama_gateway.core.types import GenerationRequest, Message
from ollama_gateway.settings import UpstreamSettings

KEY = "llama2:latest"


def upstream(name: str, weight: float = 1.0, limit: int = 8, warm: bool = False) -> Upstream:
    config = UpstreamSettings(name=name, url=f"http://{name}:11434", weight=weight)
    made = Upstream(name, config, backend=None, max_in_flight=limit, breaker_failures=3, aliases={})
    made.set_models(["llama2:latest"])
    if warm:
        made.set_warm(["llama2:latest"])
    return made


def run(strategy, upstreams: list[Upstream], requests: int, session=None) -> Counter:
    """Pick ``requests`` times, holding each pick (nothing finishes), and count per upstream."""
    counts: Counter = Counter()
    for _ in range(requests):
        chosen = strategy.pick(upstreams, KEY, session)
        if chosen is None:
            break
        chosen.in_flight += 1
        counts[chosen.name] += 1
    return counts


def test_warm_upstreams_come_first_until_full():
    cold, warm = upstream("cold"), upstream("warm", limit=3, warm=True)
    assert run(LeastInFlight(), [cold, warm], 5) == {"warm": 3, "cold": 2}


def test_least_in_flight_spreads_and_skips_full_ones():
    a, b, c = upstream("a"), upstream("b"), upstream("c", limit=1)
    a.in_flight = 3
    counts = run(LeastInFlight(), [a, b, c], 6)
    assert counts["c"] == 1  # its limit
    assert a.in_flight == b.in_flight == 4  # everything else evened out
    assert LeastInFlight().pick([c], KEY, None) is None  # all full: the caller queues


def test_weights_share_the_load():
    heavy, light = upstream("heavy", weight=3, limit=100), upstream("light", limit=100)
    counts = run(LeastInFlight(), [heavy, light], 40)
    assert counts == {"heavy": 30, "light": 10}


def test_round_robin_takes_turns():
    ups = [upstream(n) for n in "abc"]
    assert run(RoundRobin(), ups, 9) == {"a": 3, "b": 3, "c": 3}


def conversation(first_user: str, *later: str) -> GenerationRequest:
    messages = [
        Message(role="system", content="You are terse."),
        Message(role="user", content=first_user),
    ]
    for i, text in enumerate(later):
        messages.append(Message(role="assistant" if i % 2 == 0 else "user", content=text))
    return GenerationRequest(model="llama2", kind="chat", messages=messages)


def test_a_conversation_keeps_its_key_as_it_grows():
    first = session_key(conversation("Tell me about otters."), 2048)
    later = session_key(conversation("Tell me about otters.", "They swim.", "And eat?"), 2048)
    other = session_key(conversation("Tell me about owls."), 2048)
    assert first == later != other


def test_affinity_sticks_moves_when_gone_and_few_sessions_move_when_one_joins():
    ups = [upstream(n, limit=10_000) for n in ("a", "b", "c")]
    strategy = Affinity(LeastInFlight())
    sessions = [session_key(conversation(f"question {i}"), 2048) for i in range(600)]
    owner = {s: strategy.pick(ups, KEY, s).name for s in sessions}
    assert all(strategy.pick(ups, KEY, s).name == owner[s] for s in sessions)  # sticky
    assert min(Counter(owner.values()).values()) > 120  # and spread
    survivors = [u for u in ups if u.name != "b"]  # b ejected: its sessions move, only they
    moved = {s: strategy.pick(survivors, KEY, s).name for s in sessions}
    assert all(moved[s] == owner[s] for s in sessions if owner[s] != "b")
    grown = [*ups, upstream("d", limit=10_000)]
    changed = sum(strategy.pick(grown, KEY, s).name != owner[s] for s in sessions)
    assert 0 < changed < 0.4 * len(sessions)  # about a quarter go to the newcomer


def test_affinity_yields_when_its_upstream_is_full():
    a, b = upstream("a", limit=1), upstream("b", limit=1)
    strategy = Affinity(LeastInFlight())
    session = session_key(conversation("hello"), 2048)
    home = strategy.pick([a, b], KEY, session)
    home.in_flight = 1
    other = strategy.pick([a, b], KEY, session)
    assert other is not None and other is not home


@pytest.mark.parametrize("strategy", [LeastInFlight(), RoundRobin(), Affinity(LeastInFlight())])
def test_nothing_to_pick_from(strategy):
    assert strategy.pick([], KEY, None) is None
