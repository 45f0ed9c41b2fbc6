"""A typed Python client for ollama-gateway, importable without the server's dependencies.

    from ollama_gateway.client import Client

    print(Client().generate("Why is the sky blue?").generated_text)

``Client`` blocks, ``AsyncClient`` is awaited; both take ``url`` (default ``$OLLAMA_GATEWAY_URL``,
then ``http://127.0.0.1:8000``), ``api_key`` (default ``$OLLAMA_GATEWAY_API_KEY``) and
``timeout``. Errors: :class:`ResponseError` (the server said no: ``status_code``, ``message``),
:class:`GatewayConnectionError` (no connection; names the URL), :class:`GatewayTimeout`.
"""

from ollama_gateway.client._async import AsyncClient
from ollama_gateway.client._base import API_KEY_ENV, DEFAULT_URL, URL_ENV, parse_url
from ollama_gateway.client._errors import (
    IN_STREAM,
    ClientError,
    GatewayConnectionError,
    GatewayTimeout,
    ResponseError,
)
from ollama_gateway.client._sync import Client
from ollama_gateway.client._types import (
    ChatChunk,
    ChatOptions,
    ChatResponse,
    EmbedResponse,
    GenerateChunk,
    GenerateOptions,
    GenerateResponse,
    ListResponse,
    Message,
    ModelDetails,
    ModelInfo,
    ProcessResponse,
    ProgressResponse,
    RunningModel,
    ShowResponse,
    StatusResponse,
    Timings,
    ToolCall,
    VersionResponse,
)

__all__ = [
    "API_KEY_ENV",
    "DEFAULT_URL",
    "IN_STREAM",
    "URL_ENV",
    "AsyncClient",
    "ChatChunk",
    "ChatOptions",
    "ChatResponse",
    "Client",
    "ClientError",
    "EmbedResponse",
    "GatewayConnectionError",
    "GatewayTimeout",
    "GenerateChunk",
    "GenerateOptions",
    "GenerateResponse",
    "ListResponse",
    "Message",
    "ModelDetails",
    "ModelInfo",
    "ProcessResponse",
    "ProgressResponse",
    "ResponseError",
    "RunningModel",
    "ShowResponse",
    "StatusResponse",
    "Timings",
    "ToolCall",
    "VersionResponse",
    "parse_url",
]
