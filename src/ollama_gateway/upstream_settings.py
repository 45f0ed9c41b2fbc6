"""The typed settings of one fleet upstream (a field of :class:`~ollama_gateway.settings.Settings`).

Kept apart from ``settings.py`` so that the one settings object stays readable; nothing here reads
the environment.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from ollama_gateway.core.hosts import parse_host

UPSTREAM_TYPES = ("ollama", "openai", "embedded")
_UPSTREAM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$")


class UpstreamSettings(BaseModel):
    """One upstream of the fleet: an Ollama server, an OpenAI-compatible server (vLLM, SGLang,
    TGI, LM Studio, llama-server, another ollama-gateway) or the embedded engine.

    As a flag or in the environment an upstream can be written ``TYPE=URL`` (``openai=http://
    vllm:8000``), ``URL`` (an Ollama server) or ``embedded``; the YAML file and JSON give every
    field. ``api_key`` is sent as ``Authorization: Bearer``; ``headers`` are sent as given; both
    are secrets, never logged. ``dns``: the host name is re-resolved periodically and each address
    it resolves to is an upstream of its own (a Kubernetes headless Service).
    """

    model_config = ConfigDict(extra="forbid")

    name: str = ""
    type: Literal["ollama", "openai", "embedded"] = "ollama"
    url: str = ""
    api_key: SecretStr | None = None
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    weight: float = Field(1.0, gt=0, le=1000)
    max_in_flight: int | None = Field(None, ge=1, le=100_000)
    models: list[str] = Field(default_factory=list)
    aliases: dict[str, str] = Field(default_factory=dict)
    dns: bool = False

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        kind, sep, url = value.strip().partition("=")
        if not sep:
            kind, url = ("embedded", "") if value.strip() == "embedded" else ("ollama", kind)
        return {"type": kind, "url": url}

    @model_validator(mode="after")
    def _normalise(self) -> UpstreamSettings:
        if self.type == "embedded":
            if self.url or self.dns:
                raise ValueError("the embedded engine has no url (and no dns)")
            self.name = self.name or "embedded"
        else:
            if not self.url:
                raise ValueError(f"an {self.type} upstream needs a url")
            url = parse_host(self.url, 11434 if self.type == "ollama" else 8000, "upstream")
            if self.type == "openai" and url.endswith("/v1"):
                url = url[: -len("/v1")]  # the paths are /v1/...: the base is the server
            self.url = url
            host = url.split("://", 1)[1].split("/", 1)[0]
            self.name = self.name or host
            if self.dns and _is_address(host.rsplit(":", 1)[0]):
                raise ValueError("dns needs a host name, not an address")
        if not _UPSTREAM_NAME.match(self.name):
            raise ValueError(
                f"upstream name {self.name!r}: 1-64 letters, digits and ._:@- (a metrics label)"
            )
        return self

    def header_values(self) -> dict[str, str]:
        """The headers sent upstream, credentials revealed (for the HTTP client only)."""
        out = {name: value.get_secret_value() for name, value in self.headers.items()}
        if self.api_key is not None:
            out["Authorization"] = f"Bearer {self.api_key.get_secret_value()}"
        return out


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def parse_pairs(value: object, what: str) -> object:
    """``a=b,c=d`` (env), ``["a=b", ...]`` (flags), JSON, or a mapping, as a mapping."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            return json.loads(text)
        value = [item for item in text.split(",") if item.strip()]
    if isinstance(value, list | tuple):
        out = {}
        for item in value:
            key, sep, rest = str(item).partition("=")
            if not sep or not key.strip():
                raise ValueError(f"{what}: expected NAME=VALUE, not {item!r}")
            out[key.strip()] = rest.strip()
        return out
    return value
