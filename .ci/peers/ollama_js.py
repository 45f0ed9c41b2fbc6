"""The official ``ollama`` npm client against the gateway on the real model.

    python3 .ci/peers/ollama_js.py [--workdir DIR]

Installs the pinned version of ``ollama`` from npm into a temporary directory, starts the gateway
and runs ``.ci/peers/ollama_js.mjs`` (our checks: list, show, ps, generate and chat streamed and
not, embed, abort, copy/delete/pull, error statuses) with Node. Failures are compared with the
ones docs/peers.md explains (``.ci/peers/known.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common import KEY, MODEL, compare, gateway
from known import OLLAMA_JS

VERSION = "0.6.4"
SCRIPT = Path(__file__).resolve().with_name("ollama_js.mjs")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, help="keep everything here (default: a temp dir)")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="peers-ollama-js-"))
    workdir.mkdir(parents=True, exist_ok=True)
    npm, node = shutil.which("npm"), shutil.which("node")
    if not npm or not node:
        print("node and npm are needed (apt-get install nodejs npm)")
        return 2
    (workdir / "package.json").write_text('{"private": true, "type": "module"}\n')
    install = [npm, "install", "--no-audit", "--no-fund", "--silent", f"ollama@{VERSION}"]
    subprocess.run(install, cwd=workdir, check=True)
    shutil.copy(SCRIPT, workdir / SCRIPT.name)
    results_path = workdir / "results.json"
    with gateway(workdir) as url:
        env = {**os.environ, "OLLAMA_HOST": url, "GATEWAY_KEY": KEY, "MODEL": MODEL}
        env.pop("OLLAMA_API_KEY", None)
        subprocess.run([node, SCRIPT.name, str(results_path)], cwd=workdir, env=env, check=False)
    print(f"gateway log: {workdir / 'gateway.log'}")
    if not results_path.is_file():
        print("the script did not finish: no results")
        return 1
    results = json.loads(results_path.read_text())
    return compare(results, OLLAMA_JS, f"ollama (npm) {VERSION}")


if __name__ == "__main__":
    sys.exit(main())
