"""Tool calling on the embedded engine: call formats, output parsing, call grammars.

A model's template decides whether it takes tools (``.Tools`` in an Ollama Go template,
``tools`` in a GGUF Jinja chat template) and how it writes a call (formats.py). The output is
parsed into ``tool_calls`` as it streams (parser.py); ``tool_choice`` turns the tools' parameter
schemas into a grammar that forces a call, or one that takes over once the model opens a call
(grammar.py). Tool definitions and ``tool_choice`` are checked and bounded before any work
(definitions.py).
"""

from __future__ import annotations

from ollama_gateway.tools.definitions import ToolChoice, check_tools, tool_specs
from ollama_gateway.tools.formats import ToolFormat, detect_format
from ollama_gateway.tools.grammar import ToolGrammar, tool_grammar
from ollama_gateway.tools.parser import ToolCallParser

__all__ = [
    "ToolCallParser",
    "ToolChoice",
    "ToolFormat",
    "ToolGrammar",
    "check_tools",
    "detect_format",
    "tool_grammar",
    "tool_specs",
]
