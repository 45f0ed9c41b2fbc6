"""Domain errors.

Serving logic raises these; each API family maps them once onto its own error shape.

    GatewayError                  500  anything we failed at
    ├── BadRequest                400  the request is wrong (ContextTooLong, Unsupported)
    ├── Unauthorized              401  missing or wrong API key
    ├── Forbidden                 403  the key's role does not allow this
    ├── NotFound                  404  no such thing (an API key id, ...)
    │   └── ModelNotFound              no such model (locally or upstream)
    ├── PayloadTooLarge           413  body over the configured limit
    ├── RateLimited               429  per-key limit; carries retry_after
    │   └── QuotaExceeded              daily / monthly quota used up
    ├── ModelLoadError            500  the model file could not be loaded
    ├── UpstreamFailed            500  the upstream reported an error inside its reply
    ├── UpstreamServerError       500  the upstream answered 5xx (its status in upstream_status)
    ├── UpstreamBadResponse       502  the upstream answered something we cannot read
    ├── ServiceUnavailable        503  busy / queue full / upstream unreachable; retry_after
    │   ├── ServerBusy                 our queue is full
    │   │   └── QueueTimeout           waited longer than queue_timeout for a slot
    │   ├── UpstreamBusy               the upstream answered 503 (its own queue is full)
    │   └── UpstreamUnavailable
    └── UpstreamTimeout           504  the upstream did not answer in time

Code tells conditions apart by these types, never by a message; the status and message are
all that reach a client (:mod:`ollama_gateway.api.errors`).
"""

from __future__ import annotations

ECHO_LIMIT = 200


def clip(text: str, limit: int = ECHO_LIMIT) -> str:
    """``text`` as an error message may echo it: at most ``limit`` characters, then an ellipsis.

    Client-supplied strings (model names above all) are echoed through this, so that a 900 KB
    name cannot come back twice in a reply or a log line.

    >>> clip("llama3"), clip("x" * 300)[-3:], len(clip("x" * 300))
    ('llama3', 'xx…', 201)
    """
    text = str(text)
    return text if len(text) <= limit else text[:limit] + "…"


class GatewayError(Exception):
    status_code: int = 500

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        return {"Retry-After": str(max(1, int(-(-self.retry_after // 1))))}


class BadRequest(GatewayError):
    status_code = 400


class ContextTooLong(BadRequest):
    pass


class Unsupported(BadRequest):
    pass


class Unauthorized(GatewayError):
    status_code = 401


class Forbidden(GatewayError):
    status_code = 403


class NotFound(GatewayError):
    status_code = 404


class ModelNotFound(NotFound):
    def __init__(self, model: str, message: str | None = None) -> None:
        super().__init__(message or f'model "{clip(model)}" not found, try pulling it first')
        self.model = model


class PayloadTooLarge(GatewayError):
    status_code = 413


class RateLimited(GatewayError):
    status_code = 429


class QuotaExceeded(RateLimited):
    pass


class ModelLoadError(GatewayError):
    status_code = 500


class UpstreamFailed(GatewayError):
    """The upstream reported an error inside its reply: an ``{"error"}`` line in Ollama's
    stream, an OpenAI-compatible error event."""


class UpstreamServerError(GatewayError):
    """The upstream failed with a 5xx status other than 503 (kept in ``upstream_status``)."""

    status_code = 500

    def __init__(self, message: str, *, upstream_status: int = 500) -> None:
        super().__init__(message)
        self.upstream_status = upstream_status


class UpstreamBadResponse(GatewayError):
    status_code = 502


class ServiceUnavailable(GatewayError):
    status_code = 503


class ServerBusy(ServiceUnavailable):
    def __init__(
        self,
        message: str = "server busy, please try again.  maximum pending requests exceeded",
        *,
        retry_after: float | None = 1.0,
    ) -> None:
        super().__init__(message, retry_after=retry_after)


QUEUE_TIMEOUT_MESSAGE = "server busy, please try again.  timed out waiting for a free slot"


class QueueTimeout(ServerBusy):
    """The request waited longer than ``queue_timeout`` for a slot (the gateway's or a fleet's)."""

    def __init__(self, message: str = QUEUE_TIMEOUT_MESSAGE) -> None:
        super().__init__(message)


class UpstreamBusy(ServiceUnavailable):
    """The upstream answered 503: its own queue is full."""


class UpstreamUnavailable(ServiceUnavailable):
    pass


class UpstreamTimeout(GatewayError):
    status_code = 504
