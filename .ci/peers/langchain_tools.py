"""langchain-ollama's tool tests against the real model given a tool template (not run by CI).

    python3 .ci/peers/langchain_tools.py smollm2-tools:135m    [--workdir DIR]
    python3 .ci/peers/langchain_tools.py smollm2-caller:135m   [--workdir DIR]

The packaged ``smollm2:135m`` has no tool template, so CI's run (langchain_ollama.py) sees
``tools`` refused as Ollama refuses them. This puts SmolLM2-135M into the gateway's store under
two more names, each with a ChatML tool template of the tests: ``smollm2-tools:135m``
(tests/support/templates/chatml_tools.gotmpl: the model may call, ``auto``) and
``smollm2-caller:135m`` (chatml_tools_caller.gotmpl: the template opens the call whenever the
user speaks and tools are given, so the call is constrained from its first token), substitutes
that name for the model names in langchain-ollama's tests (as langchain_ollama.py does), and
runs their tool tests (``-k``), printing each outcome. docs/peers.md gives the last figures.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from common import KEY, MAX_PREDICT
from langchain_ollama import THEIR_MODELS, fetch, install, outcomes
from tests.support.gguf_models import chatml_caller_template, chatml_tools_template, smollm2_path
from tests.support.realmodel import smollm2_gateway

from ollama_gateway.models.store import ModelStore

MODELS = {
    "smollm2-tools:135m": chatml_tools_template,
    "smollm2-caller:135m": chatml_caller_template,
}
SELECTED = (
    "test_tool_ or test_agent_loop or function_calling or structured_few_shot "
    "or bind_runnables_as_tools or unicode_tool_call"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", choices=sorted(MODELS))
    parser.add_argument("--workdir", type=Path, help="keep everything here (default: a temp dir)")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="peers-langchain-tools-"))
    workdir.mkdir(parents=True, exist_ok=True)
    source = fetch(workdir)
    names = "|".join(re.escape(m) for m in THEIR_MODELS)
    pattern = re.compile(rf"""(["'])({names})\1""")
    for path in sorted((source / "tests" / "integration_tests").rglob("*.py")):
        text = path.read_text()
        path.write_text(pattern.sub(lambda m: f"{m.group(1)}{args.model}{m.group(1)}", text))
    python = install(workdir, source)
    store = ModelStore(workdir / "models")
    for name, template in MODELS.items():
        store.import_gguf(smollm2_path(), name, template=template(), link=True)
    junit = workdir / "junit.xml"
    with smollm2_gateway(workdir, "--max-predict", MAX_PREDICT, key=KEY, parallel=2) as url:
        env = {**os.environ, "OLLAMA_HOST": url, "OLLAMA_API_KEY": KEY}
        env |= {"OLLAMA_TEST_MODEL": args.model, "OLLAMA_REASONING_TEST_MODEL": args.model}
        command = [str(python), "-m", "pytest", "tests/integration_tests/chat_models", "-q"]
        command += ["-rfE", "-k", SELECTED, "-p", "no:cacheprovider", f"--junitxml={junit}"]
        command += ["-o", "junit_family=xunit1"]
        print("+", " ".join(command), flush=True)
        subprocess.run(command, cwd=source, env=env, check=False)
    results = outcomes(junit)
    for name, outcome in sorted(results.items()):
        print(f"  {outcome:<8} {name}")
    print(
        f"\n== langchain-ollama tool tests against {args.model}: {dict(Counter(results.values()))}"
    )
    print(f"gateway log: {workdir / 'gateway.log'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
