"""Ollama's model templates: a Go ``text/template`` subset, parsed, executed and rendered.

``lex``, ``parse`` and ``nodes`` (lexer, parser, syntax tree), ``values`` (Go's truth, printing
and comparison), ``funcs`` (the built-in functions), ``execute`` (the tree walker) and ``render``
(Ollama's rules for turning a chat into a prompt with a template).
"""

from ollama_gateway.models.gotemplate.execute import Cancelled
from ollama_gateway.models.gotemplate.render import (
    TemplateError,
    collate,
    render_go_template,
    template_variables,
)

__all__ = ["Cancelled", "TemplateError", "collate", "render_go_template", "template_variables"]
