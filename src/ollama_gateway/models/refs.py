"""Model references: ``name[:tag]``, ``namespace/name:tag``, ``host/namespace/name:tag``, paths.

A reference is parsed the way Ollama parses model names: the tag defaults to ``latest``, the
namespace to ``library`` and the host (the registry) to ``registry.ollama.ai``. A reference may
end with a digest (``name@sha256:<64 hex>``). Names display as Ollama shows them:

>>> parse_ref("deepseek-r1:1.5b").display
'deepseek-r1:1.5b'
>>> parse_ref("llama3").display
'llama3:latest'
>>> parse_ref("user/model:tag").display
'user/model:tag'
>>> parse_ref("localhost:5000/ns/model").display
'localhost:5000/ns/model:latest'
>>> parse_ref("registry.ollama.ai/library/qwen2:0.5b").display
'qwen2:0.5b'
>>> parse_ref("qwen2:0.5b").manifest_parts
('registry.ollama.ai', 'library', 'qwen2', '0.5b')
>>> parse_ref("bad name")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ollama_gateway.errors.BadRequest: invalid model name "bad name": the name part may hold only ...

The grammar is Ollama's (``types/model/name.go``): ``[host/][namespace/]name[:tag][@digest]``,
each part starting with a letter, a digit or ``_``; host up to 350 characters of letters, digits
and ``_-.:``; namespace up to 80 of letters, digits, ``_`` and ``-``; name and tag up to 80 of
letters, digits and ``_-.``. So a name is never a path: ``/``-leading, ``./``, ``..``, ``~``,
backslashes, NUL and other odd characters are all refused, without looking at any file:

>>> parse_ref("/etc/passwd")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ollama_gateway.errors.BadRequest: invalid model name "/etc/passwd": the host part is empty

Paths come only from the operator (``--model ./file.gguf`` or ``--model name=path``), read by
:func:`parse_model_spec`; :func:`is_gguf_path` tells them apart from names there:

>>> is_gguf_path("./models/tiny.gguf"), is_gguf_path("qwen2:0.5b")
(True, False)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from ollama_gateway.errors import BadRequest, clip

DEFAULT_HOST = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"

# The longest name the parts allow: "https://", host/namespace/name:tag and "@sha256:<64 hex>".
MAX_NAME_LENGTH = 8 + 350 + 1 + 80 + 1 + 80 + 1 + 80 + 72
_DIGEST_RE = re.compile(r"^sha256[:-]([0-9a-fA-F]{64})$")
_PART_RULES = {
    # kind: (regex of the whole part, max length, description of the allowed characters)
    "host": (re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:-]*$"), 350, "letters, digits, '_-.:'"),
    "namespace": (re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$"), 80, "letters, digits, '_' and '-'"),
    "name": (re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"), 80, "letters, digits, '_', '-' and '.'"),
    "tag": (re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"), 80, "letters, digits, '_', '-' and '.'"),
}


@dataclass(frozen=True, slots=True)
class ModelRef:
    """A parsed, fully qualified model name (every part filled in)."""

    host: str = DEFAULT_HOST
    namespace: str = DEFAULT_NAMESPACE
    name: str = ""
    tag: str = DEFAULT_TAG
    digest: str | None = None  # "sha256:<hex>" when the reference pinned one

    @property
    def display(self) -> str:
        """The shortest name as Ollama displays it (``model:tag``, ``ns/model:tag``...)."""
        if self.host.lower() != DEFAULT_HOST:
            return f"{self.host}/{self.namespace}/{self.name}:{self.tag}"
        if self.namespace.lower() != DEFAULT_NAMESPACE:
            return f"{self.namespace}/{self.name}:{self.tag}"
        return f"{self.name}:{self.tag}"

    @property
    def full(self) -> str:
        """``host/namespace/name:tag``."""
        return f"{self.host}/{self.namespace}/{self.name}:{self.tag}"

    @property
    def manifest_parts(self) -> tuple[str, str, str, str]:
        """The four directories under ``manifests/`` that hold this model's manifest."""
        return (self.host, self.namespace, self.name, self.tag)

    @property
    def repository(self) -> str:
        """``namespace/name``: the repository path on the registry."""
        return f"{self.namespace}/{self.name}"

    def same_model(self, other: ModelRef) -> bool:
        """True when both name the same model, ignoring case (as Ollama compares names)."""
        return tuple(p.lower() for p in self.manifest_parts) == tuple(
            p.lower() for p in other.manifest_parts
        )

    def __str__(self) -> str:
        return self.display


def is_gguf_path(ref: str) -> bool:
    """True when ``ref`` names a GGUF file rather than a model in the store.

    Anything ending in ``.gguf`` (any case) or holding a path separator that is not a model name
    is a path; ``~`` is expanded by :func:`gguf_path`.

    >>> is_gguf_path("/abs/model.GGUF"), is_gguf_path("~/m.gguf"), is_gguf_path("a/b/c:1")
    (True, True, False)
    """
    ref = ref.strip()
    if ref.lower().endswith(".gguf"):
        return True
    return ref.startswith(("/", "./", "../", "~")) or (os.sep != "/" and os.sep in ref)


def gguf_path(ref: str) -> str:
    """The file system path of a GGUF reference, ``~`` expanded."""
    return os.path.expanduser(ref.strip())


def _check_part(kind: str, value: str, ref: str) -> None:
    pattern, max_len, allowed = _PART_RULES[kind]
    ref = clip(ref)
    if not value:
        raise BadRequest(f'invalid model name "{ref}": the {kind} part is empty')
    if len(value) > max_len:
        raise BadRequest(
            f'invalid model name "{ref}": the {kind} part is longer than {max_len} characters'
        )
    if not pattern.match(value):
        raise BadRequest(
            f'invalid model name "{ref}": the {kind} part may hold only {allowed}'
            if value[0].isalnum() or value[0] == "_"
            else f'invalid model name "{ref}": the {kind} part must start with a letter, '
            "a digit or '_'"
        )


def parse_ref(ref: str) -> ModelRef:
    """Parse a model name into a fully qualified :class:`ModelRef`.

    Raises :class:`~ollama_gateway.errors.BadRequest` on anything that is not a model name.

    >>> parse_ref("Qwen2@sha256:" + "a" * 64).digest == "sha256:" + "a" * 64
    True
    >>> parse_ref("https://example.com:8080/team/model:v1").host
    'example.com:8080'
    """
    if not isinstance(ref, str):
        raise BadRequest("a model name must be a string")
    raw = clip(ref)
    s = ref.strip()
    if not s:
        raise BadRequest("a model name is required")
    if len(s) > MAX_NAME_LENGTH:
        raise BadRequest(f'invalid model name "{raw}": longer than {MAX_NAME_LENGTH} characters')
    for scheme in ("https://", "http://"):
        if s.startswith(scheme):
            s = s[len(scheme) :]
            break
    digest: str | None = None
    if "@" in s:
        s, _, digest_part = s.rpartition("@")
        match = _DIGEST_RE.match(digest_part)
        if not match:
            raise BadRequest(f'invalid model name "{raw}": the digest must be sha256:<64 hex>')
        digest = f"sha256:{match.group(1).lower()}"
        if not s:
            raise BadRequest(f'invalid model name "{raw}": a digest needs a model name before it')
    tag = DEFAULT_TAG
    if s.rfind(":") > s.rfind("/"):
        s, _, tag = s.rpartition(":")
        _check_part("tag", tag, raw)
    parts = s.split("/")
    if len(parts) == 1:
        host, namespace, name = DEFAULT_HOST, DEFAULT_NAMESPACE, parts[0]
    elif len(parts) == 2:
        host, (namespace, name) = DEFAULT_HOST, parts
    elif len(parts) == 3:
        host, namespace, name = parts
    else:
        raise BadRequest(
            f'invalid model name "{raw}": expected [host/][namespace/]name[:tag], '
            f"got {len(parts)} path parts"
        )
    _check_part("host", host, raw)
    _check_part("namespace", namespace, raw)
    _check_part("name", name, raw)
    if ".." in host or ".." in name or ".." in tag:
        raise BadRequest(f'invalid model name "{raw}": ".." is not allowed')
    return ModelRef(host=host, namespace=namespace, name=name, tag=tag, digest=digest)


def display_name(ref: str) -> str:
    """The canonical display name of ``ref`` (``llama3`` -> ``llama3:latest``).

    >>> display_name("library/llama3")
    'llama3:latest'
    """
    return parse_ref(ref).display


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """The operator's ``--model``: the name clients use, and the file behind it (if any).

    ``path`` is None for a model of the store (``qwen2:0.5b``); for a file it is the path as
    given (``~`` expanded), served under ``name``.
    """

    name: str
    path: str | None = None


_STEM_BAD = re.compile(r"[^A-Za-z0-9_.-]+")


def name_for_file(path: str) -> str:
    """The model name a GGUF file is served under: its stem, made a valid name, ``:latest``.

    >>> name_for_file("/models/SmolLM2-135M-Instruct.Q4_1.gguf")
    'SmolLM2-135M-Instruct.Q4_1:latest'
    >>> name_for_file("./my model (v2)..gguf"), name_for_file("/m/.gguf")
    ('my-model-v2:latest', 'model:latest')
    """
    stem = os.path.basename(path.rstrip("/\\" + os.sep))
    if stem.lower().endswith(".gguf"):
        stem = stem[: -len(".gguf")]
    stem = _STEM_BAD.sub("-", stem)
    stem = re.sub(r"\.{2,}", ".", stem).strip(".-")[:80].rstrip(".-")
    return f"{stem or 'model'}:latest"


def parse_model_spec(spec: str) -> ModelSpec:
    """Read the operator's ``--model``: a store name, a path, or ``name=path``.

    Only the operator's settings may name files; names that reach the API never do.

    >>> parse_model_spec("deepseek-r1:1.5b")
    ModelSpec(name='deepseek-r1:1.5b', path=None)
    >>> parse_model_spec("./models/tiny.gguf")
    ModelSpec(name='tiny:latest', path='./models/tiny.gguf')
    >>> parse_model_spec("tiny=/srv/m.gguf"), parse_model_spec("team/tiny:q8=/srv/m.gguf").name
    (ModelSpec(name='tiny:latest', path='/srv/m.gguf'), 'team/tiny:q8')
    >>> parse_model_spec("/data/a=b/m.gguf").path  # "/data/a" is no name: the whole is a path
    '/data/a=b/m.gguf'
    """
    text = spec.strip()
    name, sep, path = text.partition("=")
    if sep and not is_gguf_path(name):
        try:
            ref = parse_ref(name)
        except BadRequest:
            ref = None
        if ref is not None:
            if not path.strip():
                raise BadRequest(f'--model "{clip(spec)}": a file path is needed after "="')
            return ModelSpec(ref.display, gguf_path(path))
    if is_gguf_path(text):
        return ModelSpec(name_for_file(text), gguf_path(text))
    return ModelSpec(text)


# The whole grammar as one expression: the common case, a valid name, costs one match.
_P = r"[A-Za-z0-9_]"
_VALID_NAME = re.compile(
    rf"(?:https?://)?(?:(?:{_P}[A-Za-z0-9_.:-]{{0,349}}/)?{_P}[A-Za-z0-9_-]{{0,79}}/)?"
    rf"{_P}[A-Za-z0-9_.-]{{0,79}}(?::{_P}[A-Za-z0-9_.-]{{0,79}})?(?:@sha256[:-][0-9a-fA-F]{{64}})?"
)


def check_model_name(name: str) -> str:
    """``name`` as it is, if it is a model name (or empty: the default model); else a 400.

    Every API checks the model names of its requests with this before any work: a name is
    never a path, and no file is looked at to decide. Same verdicts as :func:`parse_ref`, which
    explains a refusal.

    >>> check_model_name("llama3"), check_model_name("")
    ('llama3', '')
    """
    if name and not (_VALID_NAME.fullmatch(name) and ".." not in name):
        parse_ref(name)
    return name
