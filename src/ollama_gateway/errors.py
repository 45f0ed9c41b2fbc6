"""Domain errors.

Serving logic raises these; each API family maps them once onto its own error shape.

    GatewayError                  500  anything we failed at
    ├── BadRequest                400  the request is wrong (ContextTooLong, Unsupported)
    ├── Unauthorized              401  missing or wrong API key
    ├── ModelNotFound             404  no such model (locally or upstream)
    ├── PayloadTooLarge           413  body over the configured limit
    ├── RateLimited               429  per-key limit; carries retry_after
    ├── ModelLoadError            500  the model file could not be loaded
    ├── UpstreamServerError       500  the upstream answered 5xx (its status in upstream_status)
    ├── UpstreamBadResponse       502  the upstream answered something we cannot read
    ├── ServiceUnavailable        503  busy / queue full / upstream unreachable; retry_after
    │   ├── ServerBusy
    │   └── UpstreamUnavailable
    └── UpstreamTimeout           504  the upstream did not answer in time
"""

from __future__ import annotations


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


class ModelNotFound(GatewayError):
    status_code = 404

    def __init__(self, model: str, message: str | None = None) -> None:
        super().__init__(message or f'model "{model}" not found, try pulling it first')
        self.model = model


class PayloadTooLarge(GatewayError):
    status_code = 413


class RateLimited(GatewayError):
    status_code = 429


class ModelLoadError(GatewayError):
    status_code = 500


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


class UpstreamUnavailable(ServiceUnavailable):
    pass


class UpstreamTimeout(GatewayError):
    status_code = 504
