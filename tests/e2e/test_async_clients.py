"""The official clients' async flavours (what LangChain and Open WebUI use), streaming."""

from __future__ import annotations

import asyncio

import ollama
import openai

from tests.support.secrets import KEY_A


def test_async_ollama_client_streams_concurrently(target):
    async def run() -> list[str]:
        client = ollama.AsyncClient(
            host=target.url, headers={"Authorization": f"Bearer {KEY_A}"}, timeout=60
        )

        async def one(prompt: str) -> str:
            parts = []
            async for part in await client.chat(
                model=target.model,
                messages=[{"role": "user", "content": prompt}],
                stream=True,
                options={"num_predict": 8},
            ):
                parts.append(part.message.content)
            return "".join(parts)

        return await asyncio.gather(*(one(f"prompt {i}") for i in range(3)))

    texts = asyncio.run(asyncio.wait_for(run(), 120))
    assert len(texts) == 3 and all(texts)
    if target.expected_text:
        assert texts == [target.expected_text] * 3


def test_async_openai_client_streams(target):
    async def run() -> str:
        client = openai.AsyncOpenAI(
            base_url=target.url + "/v1", api_key=KEY_A, max_retries=0, timeout=60
        )
        stream = await client.chat.completions.create(
            model=target.model,
            messages=[{"role": "user", "content": "hi"}],
            max_tokens=8,
            stream=True,
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream])
        await client.close()
        return text

    text = asyncio.run(asyncio.wait_for(run(), 120))
    assert text
    if target.expected_text:
        assert text == target.expected_text
