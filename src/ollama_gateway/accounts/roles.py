"""Roles and the scope every route needs: the one table the edge checks each request against.

=========  ============================================================================
scope      routes
=========  ============================================================================
public     ``/health``, ``/ready``, ``GET|HEAD /``, the console's files (``GET /ui/...``): no key
any        ``/info``, ``/api/version``, ``/me``, ``/me/usage``, the API docs ``/docs``,
           ``/docs/assets/...``, ``/openapi.json`` (any valid key)
inference  generation and embeddings: ``/api/generate``, ``/api/chat``, ``/api/embed``,
           ``/api/embeddings``, ``/v1/chat/completions``, ``/v1/completions``,
           ``/v1/embeddings``
models     listing and showing models: ``/api/tags``, ``/api/ps``, ``/api/show``,
           ``/v1/models``, ``/v1/models/{id}``
manage     changing the model store: ``/api/pull``, ``/api/delete``, ``/api/copy``,
           ``/api/create``, ``/api/push``, ``/api/blobs/...``
metrics    ``/metrics``, ``/status``
admin      ``/admin/...`` (keys, everyone's usage, the audit log); and any route not listed
=========  ============================================================================

``admin`` holds every scope; ``user`` holds any, inference and models; ``metrics`` holds any
and metrics. A route missing from the table needs ``admin`` (a new route is closed until it is
classified here; a test lists the app's routes against this table).
"""

from __future__ import annotations

from typing import Literal

from ollama_gateway.accounts.records import KeyRecord, Role
from ollama_gateway.errors import Forbidden

Scope = Literal["public", "any", "inference", "models", "manage", "metrics", "admin"]

SCOPES: dict[Role, frozenset[str]] = {
    "admin": frozenset({"any", "inference", "models", "manage", "metrics", "admin"}),
    "user": frozenset({"any", "inference", "models"}),
    "metrics": frozenset({"any", "metrics"}),
}

ROUTES: dict[tuple[str, str], Scope] = {
    ("GET", "/health"): "public",
    ("HEAD", "/health"): "public",
    ("GET", "/ready"): "public",
    ("HEAD", "/ready"): "public",
    ("HEAD", "/"): "public",
    ("GET", "/ui"): "public",  # the web console's files (GET/HEAD /ui and under /ui/): no secret
    ("HEAD", "/ui"): "public",
    ("GET", "/"): "public",
    ("GET", "/info"): "any",
    ("GET", "/docs"): "any",
    ("GET", "/openapi.json"): "any",
    ("GET", "/api/version"): "any",
    ("GET", "/me"): "any",
    ("GET", "/me/usage"): "any",
    ("POST", "/api/generate"): "inference",
    ("POST", "/api/chat"): "inference",
    ("POST", "/api/embed"): "inference",
    ("POST", "/api/embeddings"): "inference",
    ("POST", "/v1/chat/completions"): "inference",
    ("POST", "/v1/completions"): "inference",
    ("POST", "/v1/embeddings"): "inference",
    ("GET", "/api/tags"): "models",
    ("GET", "/api/ps"): "models",
    ("POST", "/api/show"): "models",
    ("GET", "/v1/models"): "models",
    ("POST", "/api/pull"): "manage",
    ("DELETE", "/api/delete"): "manage",
    ("POST", "/api/copy"): "manage",
    ("POST", "/api/create"): "manage",
    ("POST", "/api/push"): "manage",
    ("GET", "/metrics"): "metrics",
    ("GET", "/status"): "metrics",  # the numbers of /metrics as JSON (the console's live status)
}
# Routes with a path parameter: (method, prefix) -> scope, longest prefix first.
PREFIXES: tuple[tuple[str, str, Scope], ...] = (
    ("GET", "/v1/models/", "models"),
    ("GET", "/ui/", "public"),
    ("HEAD", "/ui/", "public"),
    ("GET", "/docs/assets/", "any"),
    ("HEAD", "/api/blobs/", "manage"),
    ("POST", "/api/blobs/", "manage"),
)

FORBIDDEN_MESSAGE = "this API key's role ({role}) may not use {method} {path}"


def required_scope(method: str, path: str) -> Scope:
    """The scope ``method path`` needs (``admin`` for anything not classified)."""
    found = ROUTES.get((method, path))
    if found is not None:
        return found
    for verb, prefix, scope in PREFIXES:
        if method == verb and path.startswith(prefix):
            return scope
    if method == "HEAD":  # answered like GET where GET is
        return required_scope("GET", path)
    return "admin"


def may(role: Role, scope: Scope) -> bool:
    return scope == "public" or scope in SCOPES[role]


# Whether a role may call a route of the table, answered by one lookup (the request path).
ALLOWED: dict[tuple[Role, str, str], bool] = {
    (role, method, path): may(role, scope)
    for role in SCOPES
    for (method, path), scope in ROUTES.items()
}


def authorize(key: KeyRecord | None, method: str, path: str) -> None:
    """Raise :class:`Forbidden` unless ``key`` may call the route (no key: no keys configured)."""
    if key is None or key.role == "admin":
        return
    allowed = ALLOWED.get((key.role, method, path))
    if allowed is None:  # a route with a parameter, or none of the table's
        allowed = may(key.role, required_scope(method, path))
    if not allowed:
        raise Forbidden(FORBIDDEN_MESSAGE.format(role=key.role, method=method, path=path))


def is_admin(key: KeyRecord | None) -> bool:
    """Whether ``key`` has full control (no key at all: an open, loopback-only gateway)."""
    return key is None or key.role == "admin"


# Scopes whose requests count against a key's rate limits and quotas; the others (probes,
# scrapes, a key reading its own record and usage, the admin API) never do.
LIMITED_SCOPES = frozenset({"inference", "models", "manage"})


def is_limited(method: str, path: str) -> bool:
    return required_scope(method, path) in LIMITED_SCOPES
