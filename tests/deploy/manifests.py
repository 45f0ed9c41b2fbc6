"""Reading the deployment files: Dockerfile instructions, compose services, Kubernetes objects,
and every ``ollama-gateway`` command line they contain.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = [ROOT / "Dockerfile", ROOT / "Dockerfile.embedded"]
COMPOSE_FILES = [ROOT / "compose.yaml", ROOT / "deploy" / "compose" / "keys-file.yaml"]
K8S = ROOT / "deploy" / "k8s"
K8S_BASE = K8S / "base"
K8S_OVERLAYS = sorted(p.parent for p in (K8S / "overlays").glob("*/kustomization.yaml"))
K8S_VERSION = "1.30"  # the oldest Kubernetes release the manifests must suit
PROGRAM = "ollama-gateway"
SHELL_OPERATORS = {";", "&&", "||", "|", "&", "then", "fi", "do", "done", "else", "(", ")"}


@dataclass(frozen=True)
class Instruction:
    keyword: str
    body: str
    line: int

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form instruction (after HEALTHCHECK's options), else None."""
        body = self.body
        if self.keyword == "HEALTHCHECK":
            body = f" {body}".split(" CMD ", 1)[-1].strip()
        if body.startswith("["):
            return json.loads(body)
        return None


def dockerfile_instructions(path: Path) -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped."""
    result: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        text = " ".join(p for p in pending if p)
        keyword, _, body = text.partition(" ")
        result.append(Instruction(keyword.upper(), body.strip(), start))
        pending = []
    return result


def commands_in_shell(script: str) -> list[list[str]]:
    """Every ``ollama-gateway ...`` simple command inside a shell script."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=";&|()")
    lexer.whitespace_split = True
    tokens = list(lexer)
    found: list[list[str]] = []
    for i, token in enumerate(tokens):
        if Path(token).name == PROGRAM:
            words = []
            for word in tokens[i + 1 :]:
                if word in SHELL_OPERATORS:
                    break
                words.append(word)
            found.append(words)
    return found


def after_program(argv: list[str]) -> list[str] | None:
    """The arguments after ``ollama-gateway`` in an argv (which may start with tini --)."""
    for i, word in enumerate(argv):
        if Path(word).name == PROGRAM:
            return argv[i + 1 :]
    return None


@dataclass(frozen=True)
class Invocation:
    """One ``ollama-gateway`` command line found in a deployment file."""

    where: str
    args: list[str]


def dockerfile_invocations(path: Path) -> list[Invocation]:
    found: list[Invocation] = []
    instructions = dockerfile_instructions(path)
    entrypoint: list[str] = []
    cmd: list[str] = []
    for ins in instructions:
        where = f"{path.name}:{ins.line} {ins.keyword}"
        if ins.keyword == "FROM":
            entrypoint, cmd = [], []
        elif ins.keyword in ("ENTRYPOINT", "CMD"):
            argv = ins.exec_form()
            assert argv is not None, f"{where}: use the exec (JSON) form"
            if ins.keyword == "ENTRYPOINT":
                entrypoint = argv
            else:
                cmd = argv
        elif ins.keyword == "HEALTHCHECK":
            argv = ins.exec_form()
            assert argv is not None, f"{where}: use the exec (JSON) form"
            args = after_program(argv)
            if args is not None:
                found.append(Invocation(where, args))
        elif ins.keyword == "RUN":
            found += [Invocation(where, args) for args in commands_in_shell(ins.body)]
    args = after_program(entrypoint + cmd)
    if args is not None:
        found.append(Invocation(f"{path.name} ENTRYPOINT+CMD", args))
    return found


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _as_argv(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return shlex.split(value)
    return [str(v) for v in value]


def compose_invocations(path: Path, base: dict | None = None) -> list[Invocation]:
    """Entry points (with their command appended) and healthchecks of every compose service.

    ``base`` is the compose file an override file is merged onto (for entrypoint + command).
    """
    found: list[Invocation] = []
    base_services = (base or {}).get("services", {})
    for name, service in load_yaml(path).get("services", {}).items():
        merged = {**base_services.get(name, {}), **service}
        argv = _as_argv(merged.get("entrypoint")) + _as_argv(merged.get("command"))
        args = after_program(argv)
        if args is not None:
            found.append(Invocation(f"{path.name} services.{name}", args))
        test = _as_argv((merged.get("healthcheck") or {}).get("test"))
        if test[:1] in (["CMD"], ["CMD-SHELL"]):
            command = test[1:] if test[0] == "CMD" else shlex.split(" ".join(test[1:]))
            args = after_program(command)
            if args is not None:
                found.append(Invocation(f"{path.name} services.{name}.healthcheck", args))
    return found


def k8s_documents(directory: Path) -> list[tuple[Path, dict]]:
    """Every object in the resource files a kustomization lists."""
    kustomization = load_yaml(directory / "kustomization.yaml")
    docs: list[tuple[Path, dict]] = []
    for resource in kustomization.get("resources", []):
        path = directory / resource
        if path.is_dir():
            continue
        docs += [(path, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


def containers(doc: dict) -> list[dict]:
    spec = doc.get("spec", {}).get("template", {}).get("spec", {})
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def k8s_invocations(docs: list[tuple[Path, dict]]) -> list[Invocation]:
    found: list[Invocation] = []
    for path, doc in docs:
        for container in containers(doc):
            where = f"{path.name} {doc['kind']}/{doc['metadata']['name']}/{container['name']}"
            argv = _as_argv(container.get("command")) + _as_argv(container.get("args"))
            args = after_program(argv)
            if args is not None:
                found.append(Invocation(where, args))
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                command = (container.get(probe) or {}).get("exec", {}).get("command")
                args = after_program(_as_argv(command))
                if args is not None:
                    found.append(Invocation(f"{where} {probe}", args))
    return found


INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


def compose_variables(path: Path) -> set[str]:
    """Variables a compose file interpolates (``${NAME}``, ``${NAME:-default}``, ...)."""
    return set(INTERPOLATION.findall(path.read_text()))
