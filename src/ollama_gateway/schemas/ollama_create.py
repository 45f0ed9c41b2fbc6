"""``POST /api/create``'s body, as Ollama's ``api.CreateRequest`` and its Python client send it.

The shape is checked here (names are model names, ``files`` maps relative file names to
digests, messages have known roles); what needs the store (the base model, the blob, the
quantization source) is checked by :func:`ollama_gateway.models.create.plan_create`.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from ollama_gateway.errors import BadRequest
from ollama_gateway.models.create import MAX_FILES, MAX_LICENSES, CreateSpec, check_file_name
from ollama_gateway.models.refs import check_model_name
from ollama_gateway.schemas.base import WireBody
from ollama_gateway.schemas.ollama import ChatMessage


class CreateBody(WireBody):
    """``POST /api/create``. ``name`` is the older spelling of ``model``."""

    model: str = ""
    name: str = ""
    from_: str | None = Field(None, alias="from")
    files: dict[str, str] | None = Field(None, max_length=MAX_FILES)
    adapters: dict[str, str] | None = None
    template: str | None = None
    system: str | None = None
    parameters: dict[str, Any] | None = None
    messages: list[ChatMessage] | None = None
    license: str | list[str] | None = None
    quantize: str | None = Field(None, max_length=32)
    quantization: str | None = Field(None, max_length=32)
    stream: bool | None = None

    model_config = {"populate_by_name": True}

    @field_validator("files")
    @classmethod
    def _files(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for name in value or {}:
            check_file_name(name)
        return value

    @field_validator("license")
    @classmethod
    def _licenses(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > MAX_LICENSES:
            raise ValueError(f"at most {MAX_LICENSES} licenses")
        return value

    def to_spec(self, max_messages: int) -> CreateSpec:
        model = (self.model or self.name).strip()
        if not model:
            raise BadRequest("field 'model' is required")
        if self.adapters:
            raise BadRequest("adapters are not supported by this server")
        if self.messages and len(self.messages) > max_messages:
            count = len(self.messages)
            raise BadRequest(f"too many messages: {count} (the limit is {max_messages})")
        licenses = [self.license] if isinstance(self.license, str) else self.license
        return CreateSpec(
            model=check_model_name(model),
            from_=check_model_name(self.from_) if self.from_ else None,
            files=self.files,
            template=self.template or None,
            system=self.system or None,
            parameters=self.parameters,
            messages=[_message(m) for m in self.messages] if self.messages else None,
            license=[text for text in licenses or () if text] or None,
            quantize=self.quantize or self.quantization or None,
        )

    def upstream_body(self) -> dict[str, Any]:
        """The body as an upstream Ollama receives it (``from`` spelled as Ollama spells it)."""
        return self.model_dump(by_alias=True, exclude_none=True)


def _message(message: ChatMessage) -> dict[str, Any]:
    return message.model_dump(exclude_none=True)
