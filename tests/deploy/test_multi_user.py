"""The multi-user deployments: compose's multi-user profile and the Kubernetes overlay wire every
gateway replica to one PostgreSQL and one Redis, with the URLs' secrets kept out of the files."""

from __future__ import annotations

from tests.deploy.manifests import K8S, ROOT, containers, load_yaml
from tests.deploy.test_kubernetes import RENDERED, find, selects

SERVICES = load_yaml(ROOT / "compose.yaml")["services"]
OVERLAY = K8S / "overlays" / "multi-user"


def test_compose_profile_runs_postgres_redis_and_several_replicas():
    for name in ("postgres", "redis", "gateway-replica"):
        assert SERVICES[name]["profiles"] == ["multi-user"], name
    replica = SERVICES["gateway-replica"]
    assert replica["deploy"]["replicas"] >= 2
    env = replica["environment"]
    assert env["OLLAMA_GATEWAY_DATABASE_URL"] == (
        "postgresql://gateway:${POSTGRES_PASSWORD:-}@postgres:5432/gateway"
    )
    assert env["OLLAMA_GATEWAY_REDIS_URL"] == "redis://redis:6379/0"
    assert SERVICES["postgres"]["environment"]["POSTGRES_PASSWORD"] == "${POSTGRES_PASSWORD:-}"
    assert replica["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    assert "ports" not in SERVICES["postgres"] and "ports" not in SERVICES["redis"]
    main = SERVICES["gateway"]["environment"]
    assert main["OLLAMA_GATEWAY_DATABASE_URL"] == "${OLLAMA_GATEWAY_DATABASE_URL:-}"


def test_kubernetes_overlay_wires_the_gateway_to_postgres_and_redis_through_secrets():
    docs = RENDERED[OVERLAY]
    deployment = find(docs, "Deployment", "ollama-gateway")
    (gateway,) = containers(deployment)
    sources = gateway["envFrom"]
    assert {"secretRef": {"name": "ollama-gateway-urls"}} in sources
    assert any("configMapRef" in s for s in sources)
    assert "replicas" not in deployment["spec"]
    hpa = find(docs, "HorizontalPodAutoscaler", "ollama-gateway")
    assert hpa["spec"]["minReplicas"] >= 2  # several replicas share the limits

    postgres = find(docs, "StatefulSet", "postgres")
    (pg,) = containers(postgres)
    password = {e["name"]: e for e in pg["env"]}["POSTGRES_PASSWORD"]
    assert password["valueFrom"]["secretKeyRef"]["name"] == "ollama-gateway-accounts"
    redis = find(docs, "Deployment", "redis")
    for name, workload in (("postgres", postgres), ("redis", redis)):
        service = find(docs, "Service", name)
        assert selects(
            service["spec"]["selector"], workload["spec"]["template"]["metadata"]["labels"]
        )

    policy = find(docs, "NetworkPolicy", "accounts-from-gateway-only")
    (rule,) = policy["spec"]["ingress"]
    (source,) = rule["from"]
    gateway_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selects(source["podSelector"]["matchLabels"], gateway_labels)
    assert {p["port"] for p in rule["ports"]} == {5432, 6379}
    assert not [d for d in docs if d["kind"] == "Secret"]
