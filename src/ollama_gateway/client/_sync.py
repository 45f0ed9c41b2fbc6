"""The blocking client. Each method builds its request in :mod:`._calls` and sends it here."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
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


class Client(BaseClient):
    """A blocking client for the gateway's Ollama-native API.

    >>> with Client() as client:                                 # doctest: +SKIP
    ...     print(client.generate("Why is the sky blue?").generated_text)

    Streaming methods return iterators; the request is sent when iteration starts, so errors
    (:class:`ResponseError`, :class:`GatewayConnectionError`) are raised from the loop.
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
        self._http = httpx.Client(**self._httpx_args(httpx_kwargs))

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _send(self, call: Call[T]) -> T:
        with self._translate(call):
            response = self._http.request(call.method, call.path, json=call.body)
        return self._read(call, response)

    def _stream(self, call: Call[T]) -> Iterator[T]:
        with self._translate(call), self._http.stream(call.method, call.path, json=call.body) as r:
            if r.is_error:
                r.read()
                self._check(r)
            for data in parse_lines(r.iter_lines()):
                yield call.parse(data)

    def _dispatch(self, call: Call[Any]) -> Any:
        return self._stream(call) if call.stream else self._send(call)

    @overload
    def generate(
        self,
        prompt: str,
        model: str | None = None,
        *,
        stream: Literal[False] = False,
        **options: Unpack[GenerateOptions],
    ) -> GenerateResponse: ...

    @overload
    def generate(
        self,
        prompt: str,
        model: str | None = None,
        *,
        stream: Literal[True],
        **options: Unpack[GenerateOptions],
    ) -> Iterator[GenerateChunk]: ...

    def generate(
        self,
        prompt: str,
        model: str | None = None,
        *,
        stream: bool = False,
        **options: Any,
    ) -> GenerateResponse | Iterator[GenerateChunk]:
        """Complete ``prompt``; ``model=None`` uses the gateway's default model.

        Options: ``system``, ``template``, ``suffix``, ``context``, ``raw``, ``images``,
        ``format`` (``"json"`` or a JSON schema), ``options`` (``temperature``, ``num_predict``,
        ``seed``...), ``think``, ``keep_alive``.
        """
        call = _calls.generate(prompt, model, stream, options)
        return cast("GenerateResponse | Iterator[GenerateChunk]", self._dispatch(call))

    @overload
    def chat(
        self,
        messages: Sequence[Message | Mapping[str, Any]],
        model: str | None = None,
        *,
        stream: Literal[False] = False,
        **options: Unpack[ChatOptions],
    ) -> ChatResponse: ...

    @overload
    def chat(
        self,
        messages: Sequence[Message | Mapping[str, Any]],
        model: str | None = None,
        *,
        stream: Literal[True],
        **options: Unpack[ChatOptions],
    ) -> Iterator[ChatResponse]: ...

    def chat(
        self,
        messages: Sequence[Message | Mapping[str, Any]],
        model: str | None = None,
        *,
        stream: bool = False,
        **options: Any,
    ) -> ChatResponse | Iterator[ChatResponse]:
        """Answer the conversation ``messages``; options: ``tools``, ``format``, ``options``,
        ``think``, ``keep_alive``."""
        call = _calls.chat(messages, model, stream, options)
        return cast("ChatResponse | Iterator[ChatResponse]", self._dispatch(call))

    @overload
    def pull(
        self, name: str, *, insecure: bool = False, stream: Literal[True] = True
    ) -> Iterator[ProgressResponse]: ...

    @overload
    def pull(
        self, name: str, *, insecure: bool = False, stream: Literal[False]
    ) -> ProgressResponse: ...

    def pull(
        self, name: str, *, insecure: bool = False, stream: bool = True
    ) -> ProgressResponse | Iterator[ProgressResponse]:
        """Download a model onto the server, yielding progress (``stream=False``: wait)."""
        call = _calls.pull(name, insecure, stream)
        return cast("ProgressResponse | Iterator[ProgressResponse]", self._dispatch(call))

    def create(
        self, model: str, *, stream: bool = True, **fields: Any
    ) -> ProgressResponse | Iterator[ProgressResponse]:
        """Create ``model`` on the server (``from_``, ``files``, ``template``, ``system``,
        ``parameters``, ``messages``, ``license``, ``quantize``), yielding its status lines."""
        call = _calls.create(model, stream, fields)
        return cast("ProgressResponse | Iterator[ProgressResponse]", self._dispatch(call))

    def create_blob(self, path: str | os.PathLike[str]) -> str:
        """Upload a file as a blob (unless the server has it); returns its digest."""
        digest = _calls.blob_digest(path)
        call = Call("POST", f"/api/blobs/{digest}", StatusResponse.from_dict)
        with self._translate(call), open(path, "rb") as f:
            response = self._http.post(call.path, content=f)
        self._check(response)
        return digest

    def embed(
        self, input: str | Sequence[str], model: str | None = None, **options: Any
    ) -> EmbedResponse:
        """Embed one string or many; options: ``truncate``, ``options``, ``keep_alive``,
        ``dimensions``."""
        return self._send(_calls.embed(input, model, options))

    def list(self) -> ListResponse:
        """The models the server has."""
        return self._send(_calls.list_models())

    def ps(self) -> ProcessResponse:
        """The models loaded now."""
        return self._send(_calls.ps())

    def show(self, model: str) -> ShowResponse:
        """A model's details, template, parameters and capabilities."""
        return self._send(_calls.show(model))

    def delete(self, model: str) -> StatusResponse:
        """Delete a model from the server."""
        return self._send(_calls.delete(model))

    def copy(self, source: str, destination: str) -> StatusResponse:
        """Copy a model under a new name."""
        return self._send(_calls.copy(source, destination))

    def version(self) -> VersionResponse:
        """The server's version."""
        return self._send(_calls.version())
