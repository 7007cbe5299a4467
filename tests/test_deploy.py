"""The deploy files, checked offline (no container engine runs here).

- `deploy/compose.yaml` against the compose-spec JSON schema that check-jsonschema ships
  (`--builtin-schema vendor.compose-spec`);
- every Kubernetes manifest, as each kustomization renders it, against the Kubernetes JSON
  schemas that kubernetes-validate ships (strict: unknown fields fail); Strimzi's KafkaTopic is
  a custom resource no registry package has a schema for, so its structure is stated here;
- the `ORDERFLOW_` variables: every setting, known to the settings class, set for every service
  with the same values in compose and in Kubernetes.

Both validators are locked dev dependencies imported below: without them this module fails,
it never skips.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from orderflow.runtime.kafka import producer_config
from orderflow.runtime.services import GROUP
from orderflow.runtime.settings import ENV_PREFIX, Settings, load_settings, variable_name
from orderflow.runtime.topics import retention_ms
from orderflow.schemas.topics import ALL_TOPICS

pytestmark = pytest.mark.unit

Manifest = dict[str, Any]

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
K8S = DEPLOY / "k8s"
KUSTOMIZATIONS = [K8S / "base", K8S / "overlays" / "dev", K8S / "overlays" / "prod"]
DEPLOYED = ("intake", "inventory", "billing", "fulfillment", "tracking", "projections")
HEADLESS = {"projections"}  # health and metrics only: no Service
KNOWN = {variable_name(field) for field in Settings.model_fields}
SECRET = {"database_url", "channel_keys", "carrier_webhook_secret", "kafka_options"}
# compose reaches Kafka as `kafka`, Kubernetes through Strimzi's bootstrap Service; secrets are
# development values in one and placeholders in the other.
MAY_DIFFER = {"kafka_bootstrap", *SECRET}
# The oldest Kubernetes the manifests promise to fit, and the newest the validator knows.
K8S_VERSIONS = ("1.29", kubernetes_validate.latest_version())


def _ids(paths: list[Path]) -> list[str]:
    return [path.name for path in paths]


# --- compose ------------------------------------------------------------------------------


def test_compose_file_is_valid_against_the_compose_spec() -> None:
    # given compose.yaml; when the compose-spec schema checks it; then it passes
    result = _check_compose(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_compose_spec_check_rejects_a_malformed_file(tmp_path: Path) -> None:
    # given a service whose healthcheck misspells `test`; then the same check fails
    broken = tmp_path / "compose.yaml"
    broken.write_text("services:\n  web:\n    image: x\n    healthcheck:\n      tset: [CMD, x]\n")
    assert _check_compose(broken).returncode != 0


def test_compose_starts_each_service_after_the_topics_job() -> None:
    services = _compose()["services"]
    assert services["topics"]["command"] == ["topics"]
    for name in DEPLOYED:
        service = services[name]
        assert service["command"] == ["service", name]
        assert service["restart"] in {"always", "unless-stopped"}
        depends = service["depends_on"]
        assert depends["topics"]["condition"] == "service_completed_successfully"
        assert depends["postgres"]["condition"] == "service_healthy"


def test_compose_healthchecks_probe_liveness_and_readiness_on_the_service_port() -> None:
    for name in DEPLOYED:
        service, port = _compose()["services"][name], str(_port(name))
        test = service["healthcheck"]["test"]
        assert test[:3] == ["CMD", "python", "-c"]
        assert "healthz" in test[3]
        assert "readyz" in test[3]
        assert test[4] == port
        assert [mapping.rsplit(":", 1)[1] for mapping in service["ports"]] == [port]


def test_compose_runs_kafka_in_kraft_mode_and_postgres_with_a_healthcheck() -> None:
    services = _compose()["services"]
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert "controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"]
    assert not any("ZOOKEEPER" in variable for variable in kafka["environment"])
    assert services["postgres"]["image"].startswith("postgres:")
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]


# --- Kubernetes: schemas -------------------------------------------------------------------


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS, ids=_ids(KUSTOMIZATIONS))
def test_every_rendered_manifest_is_valid_kubernetes(kustomization: Path) -> None:
    # given the manifests a kustomization renders; then each fits the Kubernetes schemas
    manifests = [m for m in render(kustomization) if m["kind"] != "KafkaTopic"]
    assert {m["kind"] for m in manifests} >= {"Deployment", "Service", "PodDisruptionBudget"}
    assert [problem for m in manifests for problem in _k8s_problems(m)] == []


def test_the_kubernetes_check_rejects_an_unknown_field() -> None:
    deployment = _named(render(K8S / "base"), "Deployment", "orderflow-intake")
    deployment["spec"]["replica"] = 2
    assert _k8s_problems(deployment) != []


def test_the_manifests_in_the_deploy_docs_are_valid_kubernetes() -> None:
    # the docs' examples of custom resources (KEDA) are examples only, not validated
    manifests = [m for m in _docs_manifests() if "keda.sh" not in m["apiVersion"]]
    assert manifests, "docs/deploy.md shows a Job for the ops commands"
    assert [problem for m in manifests for problem in _k8s_problems(m)] == []


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS, ids=_ids(KUSTOMIZATIONS))
def test_our_rendering_equals_kubectl_kustomize(kustomization: Path) -> None:
    # render() reads the kustomize fields we use; kubectl's own kustomize, where it is
    # installed, must agree with it (the schema checks above do not need kubectl)
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: render() is not cross-checked on this machine")
    built = subprocess.run(
        [kubectl, "kustomize", str(kustomization)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert _canonical(yaml.safe_load_all(built.stdout)) == _canonical(render(kustomization))


# --- Kubernetes: what the services need ----------------------------------------------------


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS, ids=_ids(KUSTOMIZATIONS))
def test_every_service_has_probes_resources_and_a_disruption_budget(kustomization: Path) -> None:
    manifests = render(kustomization)
    for name in DEPLOYED:
        deployment = _named(manifests, "Deployment", f"orderflow-{name}")
        container = _container(deployment)
        assert container["args"] == ["service", name]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert set(container["resources"]) == {"requests", "limits"}
        budget = _named(manifests, "PodDisruptionBudget", f"orderflow-{name}")
        assert budget["spec"]["selector"]["matchLabels"].items() <= _pod_labels(deployment).items()


def test_services_and_containers_use_the_port_settings() -> None:
    manifests = render(K8S / "base")
    for name in DEPLOYED:
        port = _port(name)
        deployment = _named(manifests, "Deployment", f"orderflow-{name}")
        assert [p["containerPort"] for p in _container(deployment)["ports"]] == [port]
        if name in HEADLESS:
            continue
        service = _named(manifests, "Service", f"orderflow-{name}")
        assert [p["port"] for p in service["spec"]["ports"]] == [port]
        assert service["spec"]["selector"].items() <= _pod_labels(deployment).items()


def test_the_image_runs_as_the_user_the_pods_require() -> None:
    # given the Dockerfile; then it installs from the lock, runs `orderflow` as non-root uid
    # 10001 (the pods' runAsUser), binds every interface and writes where the settings say
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "uv sync --locked --no-dev --all-packages" in dockerfile
    assert re.findall(r"^USER (\S+)$", dockerfile, re.MULTILINE)[-1] == "10001:10001"
    assert 'ENTRYPOINT ["orderflow"]' in dockerfile
    image_env = dict(re.findall(r"(ORDERFLOW_\w+)=(\S+)", dockerfile))
    assert set(image_env) <= KNOWN
    assert image_env["ORDERFLOW_HOST"] == "0.0.0.0"  # noqa: S104 - a container's interfaces
    pod = _named(render(K8S / "base"), "Deployment", "orderflow-intake")["spec"]["template"]
    assert pod["spec"]["securityContext"]["runAsUser"] == 10001
    assert _config(render(K8S / "base"))["ORDERFLOW_DATA_DIR"] == image_env["ORDERFLOW_DATA_DIR"]


def test_prod_never_applies_the_placeholder_secret() -> None:
    base_secret = _named(render(K8S / "base"), "Secret", "orderflow-secrets")
    values = dict(base_secret["stringData"])
    assert values.pop("ORDERFLOW_KAFKA_OPTIONS") == "{}"  # none: the dev cluster is plaintext
    assert all("REPLACE-ME" in value for value in values.values())
    assert not [m for m in render(K8S / "overlays" / "prod") if m["kind"] == "Secret"]


# --- topics --------------------------------------------------------------------------------


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS, ids=_ids(KUSTOMIZATIONS))
def test_kafka_topics_are_exactly_the_project_topics(kustomization: Path) -> None:
    topics = _topics(render(kustomization))
    assert sorted(t["spec"].get("topicName", t["metadata"]["name"]) for t in topics) == sorted(
        ALL_TOPICS
    )


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS, ids=_ids(KUSTOMIZATIONS))
def test_kafka_topics_have_strimzis_structure(kustomization: Path) -> None:
    manifests = render(kustomization)
    partitions = int(_config(manifests)["ORDERFLOW_PARTITIONS"])
    for topic in _topics(manifests):
        jsonschema.validate(topic, STRIMZI_KAFKA_TOPIC)
        spec = topic["spec"]
        assert spec["partitions"] == partitions
        assert int(spec["config"]["min.insync.replicas"]) <= spec["replicas"]


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS, ids=_ids(KUSTOMIZATIONS))
def test_kafka_topics_keep_events_as_orderflow_topics_creates_them(kustomization: Path) -> None:
    # the event topics for good (a replay reads them from the start), dead letters 30 days
    for topic in _topics(render(kustomization)):
        name = topic["spec"].get("topicName", topic["metadata"]["name"])
        assert int(topic["spec"]["config"]["retention.ms"]) == retention_ms(name), name


def test_prod_leaves_shipments_to_people_and_carriers_not_the_simulator() -> None:
    assert _config(render(K8S / "overlays" / "prod"))["ORDERFLOW_SIMULATE_WAREHOUSE"] == "false"
    assert _config(render(K8S / "overlays" / "dev"))["ORDERFLOW_SIMULATE_WAREHOUSE"] == "true"


def test_prod_topics_survive_the_loss_of_a_broker() -> None:
    # three copies, two needed per write, and a producer that waits for them (acks=all)
    for topic in _topics(render(K8S / "overlays" / "prod")):
        assert topic["spec"]["replicas"] == 3
        assert int(topic["spec"]["config"]["min.insync.replicas"]) == 2
    assert producer_config("kafka:9092")["acks"] == "all"


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS, ids=_ids(KUSTOMIZATIONS))
def test_no_service_runs_more_instances_than_a_topic_has_partitions(kustomization: Path) -> None:
    # consumers beyond a topic's partition count get none of it (projections read them all)
    manifests = render(kustomization)
    fewest = min(topic["spec"]["partitions"] for topic in _topics(manifests))
    for deployment in _kind(manifests, "Deployment"):
        assert deployment["spec"]["replicas"] <= fewest, deployment["metadata"]["name"]


def test_compose_creates_topics_with_the_services_partition_count() -> None:
    services = _compose()["services"]
    wanted = services["topics"]["environment"]["ORDERFLOW_PARTITIONS"]
    assert all(_compose_env(services[name])["ORDERFLOW_PARTITIONS"] == wanted for name in DEPLOYED)


# --- settings ------------------------------------------------------------------------------


def test_the_deployed_services_are_installed_with_a_port_setting() -> None:
    installed = {entry.name for entry in entry_points(group=GROUP)}
    assert set(DEPLOYED) <= installed
    assert all(f"{name}_port" in Settings.model_fields for name in DEPLOYED)


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS, ids=_ids(KUSTOMIZATIONS))
def test_kubernetes_sets_only_known_settings(kustomization: Path) -> None:
    manifests = render(kustomization)
    for source in _kind(manifests, "ConfigMap") + _kind(manifests, "Secret"):
        assert _orderflow(_data(source)) <= KNOWN, source["metadata"]["name"]
    for deployment in _kind(manifests, "Deployment"):
        env = {item["name"] for item in _container(deployment).get("env", [])}
        assert _orderflow(env) <= KNOWN, deployment["metadata"]["name"]


def test_compose_sets_only_known_settings() -> None:
    for name, service in _compose()["services"].items():
        assert _orderflow(service.get("environment", {})) <= KNOWN, name


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS, ids=_ids(KUSTOMIZATIONS))
@pytest.mark.parametrize("service", DEPLOYED)
def test_every_setting_is_set_for_the_service_in_compose_and_kubernetes(
    kustomization: Path, service: str
) -> None:
    # so an operator sees every knob, and a new setting fails here until it is deployed
    compose = _compose_env(_compose()["services"][service])
    kubernetes = _k8s_env(render(kustomization), service)
    assert set(compose) == KNOWN, sorted(KNOWN ^ set(compose))
    assert set(kubernetes) == KNOWN, sorted(KNOWN ^ set(kubernetes))


@pytest.mark.parametrize("service", DEPLOYED)
def test_compose_and_kubernetes_give_the_service_the_same_valid_settings(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given each side's variables; when the settings class reads them; then both are valid
    # and agree on every value but the bootstrap servers and the secrets
    compose = _settings(_compose_env(_compose()["services"][service]), monkeypatch)
    kubernetes = _settings(_k8s_env(render(K8S / "base"), service), monkeypatch)
    differ = {f for f in Settings.model_fields if getattr(compose, f) != getattr(kubernetes, f)}
    assert differ <= MAY_DIFFER


# --- Strimzi's KafkaTopic ------------------------------------------------------------------

# The KafkaTopic fields we use, with the constraints of Strimzi's CRD (kafka.strimzi.io/v1beta2).
# No PyPI or npm package ships that CRD's schema, so it is stated here; unknown fields fail.
_DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
STRIMZI_KAFKA_TOPIC: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "kafka.strimzi.io/v1beta2"},
        "kind": {"const": "KafkaTopic"},
        "metadata": {
            "type": "object",
            "required": ["name", "labels"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "maxLength": 253, "pattern": _DNS_SUBDOMAIN},
                "namespace": {"type": "string"},
                "labels": {
                    "type": "object",
                    "required": ["strimzi.io/cluster"],
                    "additionalProperties": {"type": "string"},
                },
            },
        },
        "spec": {
            "type": "object",
            "required": ["partitions", "replicas"],
            "additionalProperties": False,
            "properties": {
                "topicName": {"type": "string", "minLength": 1, "maxLength": 249},
                "partitions": {"type": "integer", "minimum": 1},
                "replicas": {"type": "integer", "minimum": 1, "maximum": 32767},
                "config": {
                    "type": "object",
                    "additionalProperties": {"type": ["string", "integer", "number", "boolean"]},
                },
            },
        },
    },
}


# --- kustomize, for the fields our kustomizations use --------------------------------------

KUSTOMIZE_FIELDS = {"apiVersion", "kind", "namespace", "resources", "images", "replicas", "patches"}
CLUSTER_SCOPED = {"Namespace"}


def render(directory: Path) -> list[Manifest]:
    """`kustomize build directory` for the fields above: resources (files or kustomizations),
    strategic-merge patches (by name, or on every resource a target's kind selects; lists of
    named items merge by name, `$patch: delete` removes), replicas, images, namespace."""
    kustomization = _load(directory / "kustomization.yaml")
    unknown = set(kustomization) - KUSTOMIZE_FIELDS
    assert not unknown, f"{directory}: render() does not know {sorted(unknown)} yet"
    resources = kustomization.get("resources", [])
    manifests = [m for entry in resources for m in _read(directory / entry)]
    for patch in kustomization.get("patches", []):
        manifests = _patched(manifests, _load(directory / patch["path"]), patch.get("target"))
    for replicas in kustomization.get("replicas", []):
        _named(manifests, "Deployment", replicas["name"])["spec"]["replicas"] = replicas["count"]
    for image in kustomization.get("images", []):
        _set_image(manifests, image)
    if "namespace" in kustomization:
        for manifest in manifests:
            if manifest["kind"] not in CLUSTER_SCOPED:
                manifest["metadata"]["namespace"] = kustomization["namespace"]
    return manifests


def _read(path: Path) -> list[Manifest]:
    if path.is_dir():
        return render(path)
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def _load(path: Path) -> Manifest:
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict), path
    return document


def _patched(
    manifests: list[Manifest], patch: Manifest, target: dict[str, str] | None
) -> list[Manifest]:
    select = target or {"kind": patch["kind"], "name": patch["metadata"]["name"]}
    hits = [m for m in manifests if _selected(m, select)]
    assert hits, f"patch {patch['metadata']['name']} selects nothing"
    if patch.get("$patch") == "delete":
        return [m for m in manifests if not any(m is hit for hit in hits)]
    body = {key: value for key, value in patch.items() if key not in {"apiVersion", "kind"}}
    body.pop("metadata")  # it only names the patched resource
    return [_merge(m, body) if any(m is hit for hit in hits) else m for m in manifests]


def _selected(manifest: Manifest, select: dict[str, str]) -> bool:
    unknown = set(select) - {"kind", "name"}
    assert not unknown, f"render() does not select by {sorted(unknown)} yet"
    return manifest["kind"] == select["kind"] and select.get("name") in (
        None,
        manifest["metadata"]["name"],
    )


def _merge(base: Any, patch: Any) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = _merge(base[key], value) if key in base else value
        return merged
    if isinstance(base, list) and isinstance(patch, list) and _named_items(base + patch):
        by_name = {item["name"]: item for item in base}
        for item in patch:
            by_name[item["name"]] = _merge(by_name.get(item["name"], {}), item)
        return list(by_name.values())
    return patch


def _named_items(items: list[Any]) -> bool:
    return all(isinstance(item, dict) and "name" in item for item in items)


def _set_image(manifests: list[Manifest], image: dict[str, str]) -> None:
    for deployment in _kind(manifests, "Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            name, _, tag = container["image"].partition(":")
            if name == image["name"]:
                tag = image.get("newTag", tag)
                container["image"] = image.get("newName", name) + (f":{tag}" if tag else "")


def _canonical(manifests: Iterator[Any] | list[Manifest]) -> list[str]:
    return sorted(json.dumps(m, sort_keys=True) for m in manifests if m)


# --- reading the manifests -----------------------------------------------------------------


def _kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def _named(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    found = [m for m in _kind(manifests, kind) if m["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind} {name}: {len(found)} found"
    return found[0]


def _topics(manifests: list[Manifest]) -> list[Manifest]:
    return _kind(manifests, "KafkaTopic")


def _container(deployment: Manifest) -> Manifest:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, deployment["metadata"]["name"]
    container: Manifest = containers[0]
    return container


def _pod_labels(deployment: Manifest) -> dict[str, str]:
    labels: dict[str, str] = deployment["spec"]["template"]["metadata"]["labels"]
    return labels


def _config(manifests: list[Manifest]) -> dict[str, str]:
    return _data(_named(manifests, "ConfigMap", "orderflow-config"))


def _data(source: Manifest) -> dict[str, str]:
    data: dict[str, str] = {**source.get("data", {}), **source.get("stringData", {})}
    return data


def _k8s_env(manifests: list[Manifest], service: str) -> dict[str, str]:
    """What the service's container gets: its envFrom sources, then its env. A Secret the
    overlay leaves to the operator (prod) has the keys of the base's placeholder Secret."""
    container = _container(_named(manifests, "Deployment", f"orderflow-{service}"))
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env |= _data(_named(manifests, "ConfigMap", source["configMapRef"]["name"]))
        if "secretRef" in source:
            name = source["secretRef"]["name"]
            secrets = [m for m in _kind(manifests, "Secret") if m["metadata"]["name"] == name]
            env |= _data(secrets[0] if secrets else _named(render(K8S / "base"), "Secret", name))
    env |= {item["name"]: item["value"] for item in container.get("env", [])}
    return env


def _k8s_problems(manifest: Manifest) -> list[str]:
    problems = []
    for version in K8S_VERSIONS:
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = ".".join(str(part) for part in error.path)
            problems.append(f"{_what(manifest)} (k8s {version}) {where}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            problems.append(f"{_what(manifest)}: {error.message}")
    return problems


def _what(manifest: Manifest) -> str:
    return f"{manifest['kind']} {manifest['metadata']['name']}"


def _docs_manifests() -> list[Manifest]:
    text = (ROOT / "docs" / "deploy.md").read_text()
    blocks = re.findall(r"^```yaml\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    documents = [d for block in blocks for d in yaml.safe_load_all(block) if d]
    return [d for d in documents if isinstance(d, dict) and "apiVersion" in d]


# --- compose and settings ------------------------------------------------------------------


def _compose() -> Manifest:
    return _load(COMPOSE)


def _check_compose(path: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec"]
    return subprocess.run(
        [*command, str(path)], capture_output=True, text=True, check=False, timeout=120
    )


def _compose_env(service: Manifest) -> dict[str, str]:
    """The service's environment after compose's interpolation, from deploy/.env."""
    environment = service["environment"]
    assert isinstance(environment, dict), "environment as a mapping"
    return {name: _interpolate(str(value)) for name, value in environment.items()}


_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?::(?P<op>[-?])(?P<default>[^}]*))?\}")


def _interpolate(value: str) -> str:
    dotenv = _dotenv()

    def substitute(match: re.Match[str]) -> str:
        name = match["name"]
        if name in dotenv:
            return dotenv[name]
        assert match["op"] == "-", f"{name} is required: give it a value in deploy/.env"
        return str(match["default"])

    return _VARIABLE.sub(substitute, value)


def _dotenv() -> dict[str, str]:
    pairs = {}
    for line in (DEPLOY / ".env").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            pairs[name.strip()] = value.strip().removeprefix("'").removesuffix("'")
    return pairs


def _port(service: str) -> int:
    return int(_base_config()[variable_name(f"{service}_port")])


@functools.cache
def _base_config() -> dict[str, str]:
    return _config(render(K8S / "base"))


def _orderflow(names: Any) -> set[str]:
    return {name for name in names if name.startswith(ENV_PREFIX)}


def _settings(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_settings()
