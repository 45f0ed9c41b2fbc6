"""langchain-ollama's own integration tests, from its sdist, against the gateway on the real model.

    python3 .ci/peers/langchain_ollama.py [--workdir DIR]

Downloads the sdist of the pinned version from PyPI, installs it with its test dependencies into
a virtual environment of its own (so the project's environment is untouched), substitutes the
model names in the test files (only those: the suite is theirs, unchanged otherwise, and nothing
of it is committed here), starts the gateway and runs ``pytest tests/integration_tests`` with
``OLLAMA_HOST`` / ``OLLAMA_API_KEY`` pointing at it. Failures are compared with the ones
docs/peers.md explains (``.ci/peers/known.py``).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from common import KEY, MODEL, compare, gateway
from known import LANGCHAIN_OLLAMA

VERSION = "1.1.0"
TEST_DEPS = [
    "langchain-tests==1.1.6",
    "pytest>=8.4,<9",
    "pytest-asyncio>=0.26,<1",
    "pytest-socket>=0.7,<1",
    "syrupy>=4.9,<5",
]
# The model names their tests use (an Ollama library model, a reasoning one): all become ours.
THEIR_MODELS = ("llama3.1", "gpt-oss:20b", "deepseek-r1:1.5b")


def run(*command: str, **kwargs) -> None:
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True, **kwargs)


def fetch(workdir: Path) -> Path:
    """The sdist, downloaded and unpacked; returns its directory."""
    run(sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps", "-q",
        "-d", str(workdir), f"langchain-ollama=={VERSION}")  # fmt: skip
    sdist = next(workdir.glob(f"langchain_ollama-{VERSION}.tar.gz"))
    with tarfile.open(sdist) as tar:
        tar.extractall(workdir, filter="data")
    return workdir / f"langchain_ollama-{VERSION}"


def substitute_models(tests: Path) -> None:
    names = "|".join(re.escape(m) for m in THEIR_MODELS)
    pattern = re.compile(rf"""(["'])({names})\1""")
    for path in sorted(tests.rglob("*.py")):
        text = path.read_text()
        new, count = pattern.subn(lambda m: f"{m.group(1)}{MODEL}{m.group(1)}", text)
        if count:
            path.write_text(new)
            print(f"  {path.relative_to(tests.parent)}: {count} model name(s) -> {MODEL}")


def install(workdir: Path, source: Path) -> Path:
    venv = workdir / "venv"
    run(sys.executable, "-m", "venv", str(venv))
    python = venv / "bin" / "python"
    run(str(python), "-m", "pip", "install", "-q", str(source), *TEST_DEPS)
    return python


def outcomes(junit: Path) -> dict[str, str]:
    """``{test id: passed|failed|error|skipped|xfailed}`` from pytest's JUnit XML."""
    results: dict[str, str] = {}
    for case in ET.parse(junit).iter("testcase"):
        module = case.get("classname", "").replace(".", "/")
        name = f"{module}::{case.get('name')}"
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed" if child.tag == "failure" else "error"
            elif child.tag == "skipped":
                xfail = (child.get("type") or "") == "pytest.xfail"
                outcome = "xfailed" if xfail else "skipped"
        results[name] = outcome
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, help="keep everything here (default: a temp dir)")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="peers-langchain-"))
    workdir.mkdir(parents=True, exist_ok=True)
    source = fetch(workdir)
    substitute_models(source / "tests" / "integration_tests")
    python = install(workdir, source)
    junit = workdir / "junit.xml"
    with gateway(workdir) as url:
        env = {**os.environ, "OLLAMA_HOST": url, "OLLAMA_API_KEY": KEY}
        env |= {"OLLAMA_TEST_MODEL": MODEL, "OLLAMA_REASONING_TEST_MODEL": MODEL}
        command = [str(python), "-m", "pytest", "tests/integration_tests", "-q", "-rfE"]
        command += ["-p", "no:cacheprovider", f"--junitxml={junit}", "-o", "junit_family=xunit1"]
        print("+", " ".join(command), flush=True)
        subprocess.run(command, cwd=source, env=env, check=False)
    print(f"gateway log: {workdir / 'gateway.log'}")
    return compare(outcomes(junit), LANGCHAIN_OLLAMA, f"langchain-ollama {VERSION}")


if __name__ == "__main__":
    sys.exit(main())
