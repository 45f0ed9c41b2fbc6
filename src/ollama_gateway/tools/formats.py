"""How a model writes a tool call, read off its template.

Three families cover the templates in use:

- ``hermes`` (Hermes, Qwen 2/2.5/3, many fine-tunes): each call is
  ``<tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>``;
- ``mistral``: ``[TOOL_CALLS][{"name": ..., "arguments": {...}}, ...]``;
- ``json`` (Llama 3.1/3.2 and templates that name no marker): the reply is one JSON object
  ``{"name": ..., "parameters": {...}}`` (``arguments`` when the template says so), optionally
  after ``<|python_tag|>``.

The template's text says which: the marker it writes for past calls (or teaches in its system
prompt) and the key it names the arguments by. A template that shows none of these is taken to
be ``json``, as Ollama's parser takes a bare ``{`` for the start of a call.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ToolFormat:
    """One way of writing calls.

    ``markers``: texts that open a call in the output (empty: the reply itself starts with the
    call's JSON). ``close``: what ends one call (``hermes``), if anything. ``array``: the calls
    after the marker form a JSON array (``mistral``). ``args_key``: the key of the arguments in
    the grammar this format forces (the parser reads both ``arguments`` and ``parameters``).
    """

    name: str
    markers: tuple[str, ...] = ()
    close: str = ""
    array: bool = False
    args_key: str = "arguments"

    @property
    def trigger(self) -> str:
        """The marker a lazy grammar waits for ("" = the start of the reply)."""
        return self.markers[0] if self.markers else ""


HERMES = ToolFormat("hermes", markers=("<tool_call>",), close="</tool_call>")
MISTRAL = ToolFormat("mistral", markers=("[TOOL_CALLS]",), array=True)
JSON_ARGUMENTS = ToolFormat("json", markers=(), args_key="arguments")
JSON_PARAMETERS = ToolFormat("json", markers=(), args_key="parameters")
PYTHON_TAG = "<|python_tag|>"


def detect_format(template: str | None) -> ToolFormat:
    """The call format ``template`` (Go or Jinja source) teaches its model."""
    source = template or ""
    if "<tool_call>" in source:
        return HERMES
    if "[TOOL_CALLS]" in source:
        return MISTRAL
    if '"parameters"' in source or "'parameters'" in source:
        return JSON_PARAMETERS
    return JSON_ARGUMENTS
