"""The asyncio client: the same methods as :class:`Client`, awaited."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, cast, overload

import httpx

from ollama_gateway.client import _calls
from ollama_gateway.client._base import DEFAULT_TIMEOUT, BaseClient, Call, T, parse_lines
from ollama_gateway.client._types import (
    ChatResponse,
    EmbedResponse,
    GenerateChunk,
    GenerateResponse,
    ListResponse,
    Message,
    ProcessResponse,
    ProgressResponse,
    ShowResponse,
    StatusResponse,
    VersionResponse,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ollama_gateway.client._types import ChatOptions, GenerateOptions


class AsyncClient(BaseClient):
    """An asyncio client for the gateway's Ollama-native API.

    >>> async with AsyncClient() as client:                      # doctest: +SKIP
    ...     async for chunk in await client.generate("Hi", stream=True):
    ...         print(chunk.response, end="")

    Streaming methods return async iterators once awaited; the request is sent when iteration
    starts, so errors are raised from the ``async for`` loop.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        headers: Mapping[str, str] | None = None,
        **httpx_kwargs: Any,
    ) -> None:
        super().__init__(url, api_key=api_key, timeout=timeout, headers=headers)
        self._http = httpx.AsyncClient(**self._httpx_args(httpx_kwargs))

    async def close(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _send(self, call: Call[T]) -> T:
        with self._translate(call):
            response = await self._http.request(call.method, call.path, json=call.body)
        return self._read(call, response)

    async def _stream(self, call: Call[T]) -> AsyncIterator[T]:
        with self._translate(call):
            async with self._http.stream(call.method, call.path, json=call.body) as r:
                if r.is_error:
                    await r.aread()
                    self._check(r)
                async for line in r.aiter_lines():
                    for data in parse_lines([line]):
                        yield call.parse(data)

    async def _dispatch(self, call: Call[Any]) -> Any:
        return self._stream(call) if call.stream else await self._send(call)

    @overload
    async def generate(
        self,
        prompt: str,
        model: str | None = None,
        *,
        stream: Literal[False] = False,
        **options: Unpack[GenerateOptions],
    ) -> GenerateResponse: ...

    @overload
    async def generate(
        self,
        prompt: str,
        model: str | None = None,
        *,
        stream: Literal[True],
        **options: Unpack[GenerateOptions],
    ) -> AsyncIterator[GenerateChunk]: ...

    async def generate(
        self,
        prompt: str,
        model: str | None = None,
        *,
        stream: bool = False,
        **options: Any,
    ) -> GenerateResponse | AsyncIterator[GenerateChunk]:
        """Complete ``prompt``; ``model=None`` uses the gateway's default model.

        Options: ``system``, ``template``, ``suffix``, ``context``, ``raw``, ``images``,
        ``format`` (``"json"`` or a JSON schema), ``options`` (``temperature``, ``num_predict``,
        ``seed``...), ``think``, ``keep_alive``.
        """
        call = _calls.generate(prompt, model, stream, options)
        return cast("GenerateResponse | AsyncIterator[GenerateChunk]", await self._dispatch(call))

    @overload
    async def chat(
        self,
        messages: Sequence[Message | Mapping[str, Any]],
        model: str | None = None,
        *,
        stream: Literal[False] = False,
        **options: Unpack[ChatOptions],
    ) -> ChatResponse: ...

    @overload
    async def chat(
        self,
        messages: Sequence[Message | Mapping[str, Any]],
        model: str | None = None,
        *,
        stream: Literal[True],
        **options: Unpack[ChatOptions],
    ) -> AsyncIterator[ChatResponse]: ...

    async def chat(
        self,
        messages: Sequence[Message | Mapping[str, Any]],
        model: str | None = None,
        *,
        stream: bool = False,
        **options: Any,
    ) -> ChatResponse | AsyncIterator[ChatResponse]:
        """Answer the conversation ``messages``; options: ``tools``, ``format``, ``options``,
        ``think``, ``keep_alive``."""
        call = _calls.chat(messages, model, stream, options)
        return cast("ChatResponse | AsyncIterator[ChatResponse]", await self._dispatch(call))

    @overload
    async def pull(
        self, name: str, *, insecure: bool = False, stream: Literal[True] = True
    ) -> AsyncIterator[ProgressResponse]: ...

    @overload
    async def pull(
        self, name: str, *, insecure: bool = False, stream: Literal[False]
    ) -> ProgressResponse: ...

    async def pull(
        self, name: str, *, insecure: bool = False, stream: bool = True
    ) -> ProgressResponse | AsyncIterator[ProgressResponse]:
        """Download a model onto the server, yielding progress (``stream=False``: wait)."""
        call = _calls.pull(name, insecure, stream)
        return cast(
            "ProgressResponse | AsyncIterator[ProgressResponse]", await self._dispatch(call)
        )

    async def create(
        self, model: str, *, stream: bool = True, **fields: Any
    ) -> ProgressResponse | AsyncIterator[ProgressResponse]:
        """Create ``model`` on the server (``from_``, ``files``, ``template``, ``system``,
        ``parameters``, ``messages``, ``license``, ``quantize``), yielding its status lines."""
        call = _calls.create(model, stream, fields)
        return cast(
            "ProgressResponse | AsyncIterator[ProgressResponse]", await self._dispatch(call)
        )

    async def create_blob(self, path: str | os.PathLike[str]) -> str:
        """Upload a file as a blob (unless the server has it); returns its digest."""
        digest = await asyncio.to_thread(_calls.blob_digest, path)
        call = Call("POST", f"/api/blobs/{digest}", StatusResponse.from_dict)
        with self._translate(call):
            response = await self._http.post(call.path, content=_chunks(path))
        self._check(response)
        return digest

    async def embed(
        self, input: str | Sequence[str], model: str | None = None, **options: Any
    ) -> EmbedResponse:
        """Embed one string or many; options: ``truncate``, ``options``, ``keep_alive``,
        ``dimensions``."""
        return await self._send(_calls.embed(input, model, options))

    async def list(self) -> ListResponse:
        """The models the server has."""
        return await self._send(_calls.list_models())

    async def ps(self) -> ProcessResponse:
        """The models loaded now."""
        return await self._send(_calls.ps())

    async def show(self, model: str) -> ShowResponse:
        """A model's details, template, parameters and capabilities."""
        return await self._send(_calls.show(model))

    async def delete(self, model: str) -> StatusResponse:
        """Delete a model from the server."""
        return await self._send(_calls.delete(model))

    async def copy(self, source: str, destination: str) -> StatusResponse:
        """Copy a model under a new name."""
        return await self._send(_calls.copy(source, destination))

    async def version(self) -> VersionResponse:
        """The server's version."""
        return await self._send(_calls.version())


async def _chunks(path: str | os.PathLike[str]) -> AsyncIterator[bytes]:
    """A file's bytes, read in a worker thread a megabyte at a time."""
    f = await asyncio.to_thread(open, path, "rb")
    try:
        while chunk := await asyncio.to_thread(f.read, 1 << 20):
            yield chunk
    finally:
        f.close()
