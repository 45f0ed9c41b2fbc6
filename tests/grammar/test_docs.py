"""docs/api.md's JSON-schema keyword table and limits stay true to the converter."""

from __future__ import annotations

import re
from pathlib import Path

from ollama_gateway.grammar import DEFAULT_LIMITS, keywords
from ollama_gateway.grammar.formats import FORMATS

DOC = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
SECTION = DOC.split("## Structured output", 1)[1].split("\n## ", 1)[0]


def test_every_keyword_the_converter_knows_is_in_the_table():
    table = re.findall(r"`([^`]+)`", SECTION)
    named = {part for cell in table for part in re.split(r"[ /]", cell)}
    missing = sorted(k for k in keywords.KNOWN if k not in named)
    assert missing == []


def test_every_format_is_listed():
    row = next(line for line in SECTION.splitlines() if line.startswith("| `format`"))
    assert all(f"`{name}`" in row for name in FORMATS)


def test_the_limits_are_the_defaults():
    limits = DEFAULT_LIMITS
    for value in (
        limits.max_repeat,
        limits.max_properties,
        limits.max_enum,
        limits.max_pattern,
        limits.max_nodes,
        limits.max_rules,
    ):
        assert f"| {value:,} |" in SECTION, value
    assert f"| {limits.max_depth} levels |" in SECTION
    assert SECTION.count(f"| {limits.max_bytes // 1024} KiB |") == 2
