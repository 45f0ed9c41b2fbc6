"""The last line of defence before a GBNF grammar reaches llama.cpp.

Grammars are built by our converter (``format`` / ``response_format``), which bounds what it
writes; this module checks the text itself, whatever produced it, because llama.cpp's grammar
parser is recursive (a grammar nested thousands of levels deep overflows the thread's stack and
kills the process) and prints the whole grammar to stderr when it refuses one. Checked, in one
pass over the text (string literals, character classes and comments skipped):

- size: at most :data:`MAX_GRAMMAR_BYTES` (UTF-8);
- nesting of parentheses: at most :data:`MAX_GRAMMAR_DEPTH`;
- repetition counts ``x{m}``, ``x{m,n}``: at most :data:`MAX_REPETITION` (llama.cpp's own
  threshold; above it llama.cpp refuses the grammar, or quietly drops the upper bound).

Each failure is a :class:`~ollama_gateway.errors.BadRequest` (400) naming the limit.
"""

from __future__ import annotations

from ollama_gateway.errors import BadRequest

MAX_GRAMMAR_BYTES = 64 * 1024
MAX_GRAMMAR_DEPTH = 256
MAX_REPETITION = 2000  # MAX_REPETITION_THRESHOLD in llama.cpp's llama-grammar.cpp


def check_grammar(text: str) -> None:
    """BadRequest if ``text`` is too large, nested too deeply or repeats too much."""
    size = len(text.encode("utf-8", errors="replace"))
    if size > MAX_GRAMMAR_BYTES:
        raise BadRequest(
            f"the output format needs a grammar of {size} bytes (the limit is "
            f"{MAX_GRAMMAR_BYTES}); simplify the schema"
        )
    depth = 0
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"' or c == "[":
            i = _skip_quoted(text, i + 1, '"' if c == '"' else "]")
            continue
        if c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if c == "(":
            depth += 1
            if depth > MAX_GRAMMAR_DEPTH:
                raise BadRequest(
                    f"the output format needs a grammar nested more than {MAX_GRAMMAR_DEPTH} "
                    "levels deep; simplify the schema"
                )
        elif c == ")":
            depth -= 1
        elif c == "{":
            end = text.find("}", i)
            if end > 0:
                _check_counts(text[i + 1 : end])
                i = end
        i += 1


def _skip_quoted(text: str, i: int, close: str) -> int:
    """The index after the ``close`` that ends a literal or class starting at ``i``."""
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        i += 1
        if c == close:
            break
    return i


def _check_counts(inside: str) -> None:
    for part in inside.split(","):
        part = part.strip()
        if part.isdigit() and (len(part) > 9 or int(part) > MAX_REPETITION):
            raise BadRequest(
                f"the output format needs a repetition of {part[:12]} (the limit is "
                f"{MAX_REPETITION}); lower maxLength, maxItems or similar bounds"
            )
