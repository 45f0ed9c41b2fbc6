"""The one settings object.

CLI flags, then environment variables (``OLLAMA_GATEWAY_*``, plus the original names ``API_KEY``
and ``MODEL_NAME`` and Ollama's ``OLLAMA_HOST`` / ``OLLAMA_MODELS``), then a ``.env`` file, then
the YAML file named by ``config`` (:mod:`ollama_gateway.config`) feed :class:`Settings`;
``create_app(settings)`` keeps it on ``app.state``. Nothing else reads ``os.environ``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ollama_gateway.config import read_config
from ollama_gateway.core.durations import parse_duration
from ollama_gateway.core.hosts import parse_ollama_host
from ollama_gateway.models.refs import ModelSpec, parse_model_spec
from ollama_gateway.settings_values import (
    check_fleet,
    check_model,
    parse_fallbacks,
    parse_upstreams,
    split_keys,
    split_list,
    split_proxies,
    warn_short_keys,
)
from ollama_gateway.upstream_settings import UpstreamSettings, parse_pairs

DEFAULT_MODEL = "deepseek-r1:1.5b"
DEFAULT_OLLAMA_URL = "http://127.0.0.1:11434"
SHORT_KEY_LENGTH = 16


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    """Every setting of the service; ``description`` feeds both ``--help`` and the README."""

    model_config = SettingsConfigDict(
        env_prefix="OLLAMA_GATEWAY_",
        env_file=".env",
        extra="ignore",
        populate_by_name=True,
    )

    # --- serving -------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Address to bind.")
    port: int = Field(8000, ge=0, le=65535, description="Port to bind.")
    model: str = Field(
        DEFAULT_MODEL,
        validation_alias=_env("model", "OLLAMA_GATEWAY_MODEL", "MODEL_NAME"),
        description="Default model: used when a request names none (MODEL_NAME also works). "
        "A store name, or a GGUF file (embedded) served as its stem plus :latest, or NAME=PATH.",
    )
    backend: Literal["auto", "ollama", "embedded", "fleet"] = Field(
        "auto",
        description="Where tokens come from: an Ollama server, the embedded llama.cpp engine, "
        "a fleet of upstreams, or auto (the fleet when upstreams are configured, else Ollama "
        "when one answers at the Ollama URL, else embedded).",
    )
    config: Path | None = Field(
        None,
        description="YAML configuration file: upstreams, aliases, routing and any other setting "
        "(flags and environment variables override it). See docs/fleet.md.",
    )

    # --- auth and HTTP -------------------------------------------------------------------
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        validation_alias=_env("api_keys", "OLLAMA_GATEWAY_API_KEYS", "API_KEY"),
        description="API keys, comma-separated (API_KEY also works). Clients send one in "
        "X-API-KEY or Authorization: Bearer.",
    )
    keys_file: Path | None = Field(
        None,
        description="File of API keys, one per line: KEY or sha256:HEX, optionally followed by "
        "name=ID rpm=N tpm=N role=admin|user|metrics.",
    )
    insecure_no_auth: bool = Field(
        False, description="Allow serving without any API key on a non-loopback address."
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins allowed by CORS, comma-separated. Empty: CORS off.",
    )
    max_body_bytes: int = Field(1 << 20, gt=0, description="Largest request body accepted (413).")
    docs_public: bool = Field(
        False, description="Serve the API docs (/docs, /openapi.json) without an API key."
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses (or networks) of reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed, comma-separated. Empty: those headers are ignored.",
    )

    # --- the Ollama upstream -------------------------------------------------------------
    ollama_url: str = Field(
        DEFAULT_OLLAMA_URL,
        validation_alias=_env("ollama_url", "OLLAMA_GATEWAY_OLLAMA_URL", "OLLAMA_HOST"),
        description="The Ollama server (OLLAMA_HOST also works; host, host:port or a URL).",
    )
    connect_timeout: float = Field(5.0, gt=0, description="Seconds to connect to the upstream.")
    first_token_timeout: float = Field(
        300.0, gt=0, description="Seconds to wait for the first token (includes model load)."
    )
    request_timeout: float = Field(
        600.0, gt=0, description="Seconds a whole generation may take (504 or in-band error)."
    )

    # --- the fleet: many upstreams behind one endpoint (docs/fleet.md) -------------------
    upstreams: Annotated[list[UpstreamSettings], NoDecode] = Field(
        default_factory=list,
        description="Upstreams of the fleet, each TYPE=URL (ollama, openai) or embedded; "
        "the config file gives every field (credentials, weight, max in-flight, models, dns).",
    )
    aliases: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="Client-facing model names served under an upstream's own name, each "
        "NAME=UPSTREAM_NAME (e.g. deepseek-r1:1.5b=deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B).",
    )
    routing: Literal["least_in_flight", "round_robin"] = Field(
        "least_in_flight",
        description="How the fleet picks an upstream: warm first, then least in flight "
        "relative to weight; or round_robin.",
    )
    session_affinity: bool = Field(
        False,
        description="Send requests that share a conversation's beginning to the same upstream "
        "(KV-cache reuse) while it is healthy and not full.",
    )
    affinity_prefix_chars: int = Field(
        2048, ge=16, le=1 << 20, description="Characters of a conversation's beginning hashed."
    )
    health_interval: float = Field(
        5.0, gt=0, le=3600, description="Seconds between active health checks of each upstream."
    )
    discovery_interval: float = Field(
        15.0,
        gt=0,
        le=86400,
        description="Seconds between model discovery (and DNS re-resolution) of the upstreams.",
    )
    breaker_failures: int = Field(
        3,
        ge=1,
        le=1000,
        description="Consecutive failures (5xx) that eject an upstream; a refused connection "
        "or a first-token timeout ejects at once.",
    )
    failover_attempts: int = Field(
        2,
        ge=0,
        le=16,
        description="Other upstreams tried when a generation fails before its first byte.",
    )
    fallback_models: Annotated[dict[str, list[str]], NoDecode] = Field(
        default_factory=dict,
        description="Opt-in: models tried when no upstream can serve a model, each "
        "MODEL=OTHER[|OTHER...].",
    )

    # --- the embedded engine and the model store ----------------------------------------
    models_dir: Path | None = Field(
        None,
        validation_alias=_env("models_dir", "OLLAMA_GATEWAY_MODELS_DIR", "OLLAMA_MODELS"),
        description="Model store in Ollama's layout (OLLAMA_MODELS also works; "
        "default ~/.ollama/models).",
    )
    registry_url: str = Field(
        "https://registry.ollama.ai", description="Registry that models are pulled from."
    )
    pull_on_start: bool = Field(
        True, description="Pull the default model on start when it is missing (embedded)."
    )
    keep_alive: str = Field("5m", description="How long an idle model stays loaded (embedded).")
    max_loaded_models: int = Field(3, ge=1, description="Most models loaded at once (embedded).")
    num_ctx: int = Field(4096, ge=64, description="Context length per model (embedded).")
    num_threads: int | None = Field(None, ge=1, description="CPU threads (embedded; default all).")
    num_batch: int = Field(512, ge=1, description="Prompt tokens per decode step (embedded).")
    max_blob_bytes: int = Field(
        64 << 30, gt=0, description="Largest blob POST /api/blobs accepts (413 beyond)."
    )

    # --- load ---------------------------------------------------------------------------
    parallel: int = Field(4, ge=1, description="Requests generated at once per model.")
    max_queue: int = Field(512, ge=0, description="Requests waiting beyond that (then 503).")
    queue_timeout: float = Field(600.0, gt=0, description="Seconds a request may wait (503).")
    max_predict: int = Field(
        8192, ge=1, description="Upper bound on num_predict / max_tokens for any request."
    )
    max_messages: int = Field(
        4096, ge=1, description="Most messages in one chat request (400 beyond)."
    )
    max_prompt_chars: int = Field(
        1_000_000,
        ge=1,
        description="Most characters of prompt, system, suffix and message text in one request "
        "(400 beyond).",
    )
    rate_limit_rpm: int | None = Field(
        None, ge=1, description="Default requests per minute per key (none: unlimited)."
    )
    rate_limit_tpm: int | None = Field(
        None, ge=1, description="Default generated tokens per minute per key."
    )
    shutdown_grace: float = Field(
        30.0, ge=0, description="Seconds in-flight requests may finish after SIGTERM."
    )

    # --- accounts: keys, roles, quotas, usage --------------------------------------------
    data_dir: Path | None = Field(
        None,
        description="The gateway's own data (the SQLite key and usage database); "
        "default ~/.ollama-gateway.",
    )
    database_url: SecretStr | None = Field(
        None,
        description="Key and usage database: postgresql://USER:PASS@HOST/DB for several "
        "replicas, or sqlite:///PATH; default: SQLite file gateway.db in the data directory.",
    )
    redis_url: SecretStr | None = Field(
        None,
        description="Redis (redis://HOST:PORT/N) for limits, quotas and key changes shared by "
        "every process and replica; without it they are per process.",
    )
    redis_failure: Literal["open", "closed"] = Field(
        "open",
        description="When Redis is unreachable: open (fall back to per-process limits) or "
        "closed (refuse requests with 503).",
    )
    bootstrap_role: Literal["admin", "user", "metrics"] = Field(
        "admin",
        description="Role of keys from --api-key / API_KEY and of keys-file lines without role=.",
    )
    key_refresh: float = Field(
        5.0, gt=0, description="Seconds between reloads of the stored keys into the cache."
    )
    usage_buffer: int = Field(
        100_000, ge=1, description="Usage events held while the database is slow or down."
    )
    usage_retention_days: int = Field(
        90, ge=1, description="Days raw usage events are kept (daily rollups are kept)."
    )
    user_max_num_ctx: int = Field(
        8192, ge=64, description="Largest num_ctx a user key may ask for (admin: no cap)."
    )
    user_max_keep_alive: str = Field(
        "30m", description="Longest keep_alive a user key may ask for (admin: no cap)."
    )
    pull_registries: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["registry.ollama.ai"],
        description="Registry hosts models may be pulled from, comma-separated.",
    )
    pull_allow_private: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Registry hosts allowed to resolve to loopback, link-local or private "
        "addresses, comma-separated (refused otherwise).",
    )

    # --- observability ------------------------------------------------------------------
    metrics_public: bool = Field(False, description="Serve /metrics without an API key.")
    log_format: Literal["text", "json"] = Field("text", description="Log line format.")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Log level."
    )
    log_prompts: bool = Field(False, description="Log prompts and outputs (off by default).")

    # --- the web console ----------------------------------------------------------------
    console: bool = Field(
        True,
        description="Serve the web console at /ui/ (its files need no key; it signs in with one).",
    )

    # --- validators ---------------------------------------------------------------------
    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        return split_keys(value)

    @field_validator("database_url", "redis_url", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None  # OLLAMA_GATEWAY_DATABASE_URL= (set but empty): the default
        return value

    @field_validator("cors_origins", "pull_registries", "pull_allow_private", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        return split_list(value)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        return split_proxies(value)

    @field_validator("model")
    @classmethod
    def _check_model(cls, value: str) -> str:
        return check_model(value)

    @field_validator("upstreams", mode="before")
    @classmethod
    def _parse_upstreams(cls, value: object) -> object:
        return parse_upstreams(value)

    @field_validator("aliases", mode="before")
    @classmethod
    def _parse_aliases(cls, value: object) -> object:
        return parse_pairs(value, "aliases")

    @field_validator("fallback_models", mode="before")
    @classmethod
    def _parse_fallbacks(cls, value: object) -> object:
        return parse_fallbacks(value)

    @model_validator(mode="after")
    def _check_fleet(self) -> Settings:
        check_fleet(self.upstreams, self.backend)
        return self

    @model_validator(mode="wrap")
    @classmethod
    def _with_config_file(cls, data: Any, handler: Any) -> Any:
        """Values from the ``config`` file where flags, environment and .env gave none."""
        if not isinstance(data, dict) or not data.get("config"):
            return handler(data)
        known = set(cls.model_fields) - {"config"}
        config = read_config(Path(data["config"]), known, os.environ)
        from_file = set(config.values) - set(data)
        try:
            return handler({**config.values, **data})
        except ValidationError as exc:
            explained = config.explain(exc.errors(include_url=False), from_file)
            if explained is None:
                raise
            raise explained from None

    @field_validator("ollama_url", mode="before")
    @classmethod
    def _parse_ollama_url(cls, value: object) -> object:
        return parse_ollama_host(value if isinstance(value, str) else None)

    @field_validator("keep_alive", "user_max_keep_alive")
    @classmethod
    def _check_keep_alive(cls, value: str) -> str:
        parse_duration(value)
        return value

    @model_validator(mode="after")
    def _warn_short_keys(self) -> Settings:
        warn_short_keys(self.api_keys, SHORT_KEY_LENGTH)
        return self

    # --- derived ------------------------------------------------------------------------
    @property
    def model_spec(self) -> ModelSpec:
        """The default model as the operator gave it: its name and, for a file, the path."""
        return parse_model_spec(self.model)

    @property
    def model_name(self) -> str:
        """The default model's name in the API (a file's short name, never its path)."""
        return self.model_spec.name

    @property
    def keep_alive_seconds(self) -> float:
        return parse_duration(self.keep_alive) or 0.0

    @property
    def resolved_data_dir(self) -> Path:
        return (self.data_dir or Path.home() / ".ollama-gateway").expanduser()

    @property
    def resolved_models_dir(self) -> Path:
        return (self.models_dir or Path.home() / ".ollama" / "models").expanduser()
