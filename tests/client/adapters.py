"""Drive ``Client`` and ``AsyncClient`` through one interface, so every test runs on both."""

from __future__ import annotations

from typing import Any

from ollama_gateway.client import AsyncClient, Client


class SyncApi:
    kind = "sync"

    def __init__(self, **kwargs: Any) -> None:
        self.client = Client(**kwargs)

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.client, method)(*args, **kwargs)

    async def stream(self, method: str, *args: Any, **kwargs: Any) -> list[Any]:
        return list(getattr(self.client, method)(*args, stream=True, **kwargs))

    async def close(self) -> None:
        self.client.close()


class AsyncApi:
    kind = "async"

    def __init__(self, **kwargs: Any) -> None:
        self.client = AsyncClient(**kwargs)

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return await getattr(self.client, method)(*args, **kwargs)

    async def stream(self, method: str, *args: Any, **kwargs: Any) -> list[Any]:
        return [
            part async for part in await getattr(self.client, method)(*args, stream=True, **kwargs)
        ]

    async def close(self) -> None:
        await self.client.close()


APIS = {"sync": SyncApi, "async": AsyncApi}
