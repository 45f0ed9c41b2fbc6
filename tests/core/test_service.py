"""The service holds a slot for each generation, named so that tag aliases share it."""

from __future__ import annotations

import asyncio
import doctest

from ollama_gateway.core import service as service_module
from ollama_gateway.core.service import GenerationService
from ollama_gateway.core.types import GenerationRequest
from tests.support.scripted import Endless, Pause, ScriptedBackend


def test_doctests():
    assert doctest.testmod(service_module).failed == 0


async def test_a_model_and_its_latest_tag_share_slots(make_settings):
    backend = ScriptedBackend(replies=[[Endless("x")]], otherwise=["Hello"])
    service = GenerationService(backend, make_settings(parallel=1))
    first = service.stream(GenerationRequest(model="forever"))
    assert (await first.__anext__()).text == "x"
    second = service.stream(GenerationRequest(model="forever:latest"))
    waiting = asyncio.ensure_future(second.__anext__())
    await asyncio.sleep(0.05)
    assert not waiting.done() and service.scheduler.waiting == 1
    await first.aclose()  # the slot goes to the waiter
    assert (
        await asyncio.wait_for(waiting, 5)
    ).text == "Hello"  # the backend sees the name as given
    await second.aclose()
    assert service.scheduler.running() == 0


async def test_at_most_parallel_generations_reach_the_backend(make_settings):
    steady = ["s", Pause(0.02), "s", Pause(0.02), "s", Pause(0.02), "Hello"]
    backend = ScriptedBackend(otherwise=steady)
    service = GenerationService(backend, make_settings(parallel=2, max_queue=100))

    async def one() -> str:
        chunk = await service.complete(GenerationRequest(model="steady"))
        return chunk.text

    texts = await asyncio.wait_for(asyncio.gather(*(one() for _ in range(10))), 20)
    assert texts == ["sssHello"] * 10
    assert backend.peak == 2
    assert service.scheduler.running() == 0
