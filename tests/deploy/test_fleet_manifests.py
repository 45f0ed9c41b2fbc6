"""deploy/k8s/overlays/fleet and vllm: the gateway in front of N Ollama pods through DNS, and a
vLLM GPU Deployment beside them. The gateway's config files are loaded by the real Settings, its
command parsed by the real CLI, and the names they use are the Services' that exist."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from ollama_gateway.settings import Settings
from tests.deploy.manifests import K8S_BASE, K8S_OVERLAYS, containers, load_yaml
from tests.deploy.test_cli_commands import parse
from tests.deploy.test_kubernetes import RENDERED, find, render_here, selects

FLEET = next(d for d in K8S_OVERLAYS if d.name == "fleet")
VLLM = next(d for d in K8S_OVERLAYS if d.name == "vllm")


def gateway_container(docs: list[dict]) -> dict:
    (gateway,) = containers(find(docs, "Deployment", "ollama-gateway"))
    return gateway


def config_file(directory: Path) -> Path:
    (generator,) = load_yaml(directory / "kustomization.yaml")["configMapGenerator"]
    assert generator["name"] == "ollama-gateway-fleet"
    (name,) = generator["files"]
    return directory / name


def load_config(directory: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("VLLM_API_KEY", "from-the-secret")
    return Settings(_env_file=None, config=config_file(directory))


@pytest.mark.parametrize("directory", [FLEET, VLLM], ids=lambda d: d.name)
def test_the_gateway_runs_with_the_mounted_config(directory: Path, monkeypatch):
    docs = RENDERED[directory]
    gateway = gateway_container(docs)
    _, params = parse(gateway["command"][1:])  # the real CLI parses it
    mounted = Path(params["config"])
    (mount,) = [m for m in gateway["volumeMounts"] if mounted.parent == Path(m["mountPath"])]
    assert mount["readOnly"] is True and mounted.name == config_file(directory).name
    volumes = find(docs, "Deployment", "ollama-gateway")["spec"]["template"]["spec"]["volumes"]
    (volume,) = [v for v in volumes if v["name"] == mount["name"]]
    assert volume["configMap"]["name"].startswith("ollama-gateway-fleet")
    settings = load_config(directory, monkeypatch)
    assert settings.upstreams and all(u.dns for u in settings.upstreams)


@pytest.mark.parametrize("directory", [FLEET, VLLM], ids=lambda d: d.name)
def test_every_upstream_is_a_headless_service_of_the_right_pods(directory: Path, monkeypatch):
    docs = RENDERED[directory]
    settings = load_config(directory, monkeypatch)
    for upstream in settings.upstreams:
        url = urlsplit(upstream.url)
        service = find(docs, "Service", url.hostname)
        assert service["spec"]["clusterIP"] == "None"  # one DNS address per pod
        assert url.port in [p["port"] for p in service["spec"]["ports"]]
        workloads = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")]
        served = [
            w
            for w in workloads
            if selects(service["spec"]["selector"], w["spec"]["template"]["metadata"]["labels"])
        ]
        assert len(served) == 1 and served[0]["metadata"]["name"] != "ollama-gateway"


def test_vllm_serves_the_default_model_on_gpus_behind_its_key(monkeypatch):
    docs = RENDERED[VLLM]
    settings = load_config(VLLM, monkeypatch)
    vllm = next(u for u in settings.upstreams if u.type == "openai")
    assert vllm.header_values() == {"Authorization": "Bearer from-the-secret"}
    deployment = find(docs, "Deployment", "vllm")
    (server,) = containers(deployment)
    args = server["args"]
    served = args[args.index("--model") + 1]
    assert settings.aliases == {"deepseek-r1:1.5b": served}
    assert server["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert server["readinessProbe"]["httpGet"]["path"] == "/health"
    key = {e["name"]: e for e in server["env"]}["VLLM_API_KEY"]["valueFrom"]["secretKeyRef"]
    gateway_env = {e["name"]: e for e in gateway_container(docs)["env"]}
    assert gateway_env["VLLM_API_KEY"]["valueFrom"]["secretKeyRef"] == key  # the same Secret
    policy = find(docs, "NetworkPolicy", "vllm-from-gateway-only")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selects(policy["spec"]["podSelector"]["matchLabels"], labels)
    assert policy["spec"]["ingress"][0]["ports"] == [{"port": 8000}]


def test_the_overlays_leave_the_rest_of_the_gateway_as_it_was():
    base = RENDERED[K8S_BASE]
    for directory in (FLEET, VLLM):
        gateway, original = gateway_container(RENDERED[directory]), gateway_container(base)
        assert gateway["readinessProbe"] == original["readinessProbe"]
        assert gateway["securityContext"] == original["securityContext"]
        assert {m["name"] for m in original["volumeMounts"]} < {
            m["name"] for m in gateway["volumeMounts"]
        }
    assert find(render_here(VLLM), "StatefulSet", "ollama")  # the Ollama pods are still there
