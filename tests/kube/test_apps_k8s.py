"""The IoT API's and the agent's Kubernetes modes against a real API server (localkube `api` level).

playbooks/workloads.yml (tags namespaces, api, agent) renders and applies both roles' documents for
inventories/campus_microk8s exactly as a user runs it, after the pinned Prometheus Operator CRDs
from ../shared/crds (the ServiceMonitor). No pod runs at this level, so the waits and the image
delivery are off; what is checked is what the server decides and what a user relies on: every
document accepted, a second run changes nothing, the API's replica count is the inventory's, the
Ingress routes `/` unchanged, the migration Job is applied before the Deployment, the reference
envelope's pod name comes from the downward API, the pod templates are admitted under the
restricted Pod Security profile (and a weakened copy is refused), and a replica count below 1
stops the role in its preflight naming the variable."""
from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config, dynamic
from kubernetes.client.rest import ApiException

pytestmark = [pytest.mark.integration, pytest.mark.kube]

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
INVENTORY = "campus_microk8s"
APPS_NS, AGENT_NS = "iot", "dsa-agent"
COMPONENTS = {"40-iot-api": APPS_NS, "50-agent": AGENT_NS}


def _docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _inventory_var(name: str):
    data = yaml.safe_load((ROOT / "inventories" / INVENTORY / "group_vars" / "all" / "iot_api.yml").read_text())
    return data[name]


def _playbook(playbook: str, inventory: str, tmp: Path, *extra: str, tags: str = "namespaces,api,agent",
              kubeconfig: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"),
               ANSIBLE_FORCE_COLOR="0", PATH=f"{VENV_BIN}:{os.environ['PATH']}")
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(ROOT / "inventories" / inventory),
           str(ROOT / "playbooks" / playbook), "--tags", tags,
           "-e", f"dsa_k8s_render_dir={tmp / 'rendered'}", "-e", f"dsa_credentials_dir={tmp / 'credentials'}",
           "-e", "iot_api_k8s_wait=false", "-e", "dsa_agent_k8s_wait=false",
           "-e", "iot_api_k8s_image_delivery=none", "-e", "dsa_agent_k8s_image_delivery=none",
           "-e", f"ansible_python_interpreter={sys.executable}", *extra]
    if kubeconfig:
        cmd += ["-e", f"dsa_k8s_kubeconfig={kubeconfig}"]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=False)


def _changed(proc: subprocess.CompletedProcess) -> int:
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    recap = re.search(r"localhost\s*:\s*ok=\d+\s+changed=(\d+)", proc.stdout)
    assert recap, proc.stdout[-2000:]
    return int(recap.group(1))


@pytest.fixture(scope="module")
def api(localkube_api, shared_crds):
    """A client of the api-level cluster, with the pinned CRDs applied and Established."""
    shared_crds(localkube_api)
    return config.new_client_from_config(config_file=str(localkube_api))


@pytest.fixture(scope="module")
def applied(api, localkube_api, tmp_path_factory):
    """Two runs of the workloads playbook; returns (first run, second run, render dir)."""
    tmp = tmp_path_factory.mktemp("apps-k8s")
    first = _playbook("workloads.yml", INVENTORY, tmp, kubeconfig=localkube_api)
    _changed(first)
    second = _playbook("workloads.yml", INVENTORY, tmp, kubeconfig=localkube_api)
    return first, second, tmp / "rendered"


def _get(api, doc: dict):
    res = dynamic.DynamicClient(api).resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
    return res.get(name=doc["metadata"]["name"], namespace=doc["metadata"].get("namespace"))


def _rendered(render: Path, component: str, kind: str, name: str) -> dict:
    for path in sorted((render / component).glob("*.yaml")):
        for doc in _docs(path):
            if doc["kind"] == kind and doc["metadata"]["name"] == name:
                return doc
    raise AssertionError(f"{kind}/{name} not rendered under {render / component}")


def test_every_document_is_accepted_and_carries_the_labels(api, applied):
    _, _, render = applied
    seen = []
    for component, namespace in COMPONENTS.items():
        files = sorted((render / component).glob("*.yaml"))
        assert files, f"nothing rendered in {render / component}"
        for path in files:
            for doc in _docs(path):
                assert doc["metadata"]["namespace"] == namespace, (path.name, doc["metadata"])
                live = _get(api, doc)
                labels = live.metadata.labels or {}
                assert labels.get("app.kubernetes.io/part-of") == "dsa-platform", (doc["kind"], labels)
                assert labels.get("app.kubernetes.io/managed-by") == "dsa-platform", (doc["kind"], labels)
                assert labels.get("app.kubernetes.io/name") in {"iot-api", "dsa-agent"}, (doc["kind"], labels)
                seen.append(doc["kind"])
    for kind in ["ConfigMap", "Secret", "Job", "Deployment", "Service", "Ingress", "PodDisruptionBudget",
                 "NetworkPolicy", "ServiceMonitor", "ServiceAccount"]:
        assert kind in seen, f"no {kind} among the applied documents: {sorted(set(seen))}"


def test_a_second_run_changes_nothing(applied):
    _, second, _ = applied
    assert _changed(second) == 0, second.stdout[-4000:]


def test_secrets_are_rendered_private(applied):
    _, _, render = applied
    secrets = sorted(render.glob("*/*.secret.yaml"))
    assert {p.parent.name for p in secrets} == set(COMPONENTS), secrets
    for path in secrets:
        assert path.stat().st_mode & 0o077 == 0, f"{path} is readable by others"
    for path in render.glob("*/*.yaml"):
        if not path.name.endswith(".secret.yaml"):
            assert all(d["kind"] != "Secret" for d in _docs(path)), f"a Secret outside *.secret.yaml: {path}"


def test_the_deployment_runs_the_inventorys_replicas(api, applied):
    dep = client.AppsV1Api(api).read_namespaced_deployment("iot-api", APPS_NS)
    assert dep.spec.replicas == int(_inventory_var("iot_api_k8s_replicas"))
    # A fixed count in this inventory: no autoscaler fights the applied number.
    hpas = client.AutoscalingV2Api(api).list_namespaced_horizontal_pod_autoscaler(APPS_NS).items
    assert not hpas


def test_the_ingress_routes_every_path_unchanged(api, applied):
    ing = client.NetworkingV1Api(api).read_namespaced_ingress("iot-api", APPS_NS)
    annotations = ing.metadata.annotations or {}
    assert not [k for k in annotations if "rewrite-target" in k], annotations
    assert annotations.get("nginx.ingress.kubernetes.io/load-balance") == _inventory_var("iot_api_k8s_ingress_balance")
    (rule,) = ing.spec.rules
    (path,) = rule.http.paths
    assert (path.path, path.path_type) == ("/", "Prefix")
    assert (path.backend.service.name, path.backend.service.port.name) == ("iot-api", "http")
    assert ing.spec.ingress_class_name == "public"
    # /metrics stays inside the cluster: its own Ingress admits no outside address.
    metrics = client.NetworkingV1Api(api).read_namespaced_ingress("iot-api-metrics", APPS_NS)
    (mpath,) = metrics.spec.rules[0].http.paths
    assert (mpath.path, mpath.path_type) == ("/metrics", "Exact")
    assert metrics.metadata.annotations["nginx.ingress.kubernetes.io/whitelist-source-range"] == "127.0.0.1/32"
    svc = client.CoreV1Api(api).read_namespaced_service("iot-api", APPS_NS)
    assert svc.spec.type == "ClusterIP"
    assert [(p.name, p.port, p.target_port) for p in svc.spec.ports] == [("http", 80, "http")]


def test_the_migration_job_is_applied_before_the_deployment(api, applied):
    first, _, render = applied
    job_doc = _rendered(render, "40-iot-api", "Job", next(
        d["metadata"]["name"] for d in _docs(render / "40-iot-api" / "migrate-job.yaml")))
    job = client.BatchV1Api(api).read_namespaced_job(job_doc["metadata"]["name"], APPS_NS)
    dep = client.AppsV1Api(api).read_namespaced_deployment("iot-api", APPS_NS)
    # The Job is its own object (nothing owns it), runs `iot-api migrate`, and came first.
    assert not job.metadata.owner_references
    assert job.spec.template.spec.init_containers[0].args == ["migrate"]
    assert job.metadata.creation_timestamp <= dep.metadata.creation_timestamp
    out = first.stdout
    assert out.index("Apply migrate-job.yaml") < out.index("Wait for the migration Job to finish") < out.index("Apply deployment.yaml")
    # Its name follows the image and the settings: a new release is a new Job.
    assert re.fullmatch(r"iot-api-migrate-[0-9a-f]{10}", job.metadata.name)


def test_a_changed_setting_names_a_new_migration_job(applied, tmp_path):
    _, _, render = applied
    (applied_job,) = _docs(render / "40-iot-api" / "migrate-job.yaml")
    _changed(_playbook("render.yml", INVENTORY, tmp_path, "-e", "iot_api_log_level=DEBUG", tags="api"))
    (job,) = _docs(tmp_path / "rendered" / "40-iot-api" / "migrate-job.yaml")
    assert job["metadata"]["name"] != applied_job["metadata"]["name"]


def test_the_pod_name_comes_from_the_downward_api(api, applied):
    dep = client.AppsV1Api(api).read_namespaced_deployment("iot-api", APPS_NS)
    (container,) = dep.spec.template.spec.containers
    env = {e.name: e for e in container.env}
    assert env["POD_NAME"].value_from.field_ref.field_path == "metadata.name"
    assert env["NODE_NAME"].value_from.field_ref.field_path == "spec.nodeName"
    assert env["IOT_API_DB_PASSWORD"].value_from.secret_key_ref.key == "password"
    # The password never sits in the ConfigMap the pods read their other settings from.
    cm = client.CoreV1Api(api).read_namespaced_config_map("iot-api", APPS_NS)
    assert "IOT_API_DB_PASSWORD" not in cm.data
    assert cm.data["IOT_API_BIND"] == f"0.0.0.0:{container.ports[0].container_port}"
    probes = (container.liveness_probe.http_get.path, container.readiness_probe.http_get.path)
    assert probes == ("/healthz", "/readyz")


def _pod_from(api, namespace: str, deployment: str) -> dict:
    raw = dynamic.DynamicClient(api).resources.get(api_version="apps/v1", kind="Deployment") \
        .get(name=deployment, namespace=namespace).to_dict()
    template = raw["spec"]["template"]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"generateName": f"{deployment}-dry-", "namespace": namespace,
                         "labels": template["metadata"]["labels"]},
            "spec": template["spec"]}


@pytest.mark.parametrize("namespace,deployment", [(APPS_NS, "iot-api"), (AGENT_NS, "dsa-agent")])
def test_pods_from_the_templates_are_admitted_as_restricted(api, applied, namespace, deployment):
    ns = client.CoreV1Api(api).read_namespace(namespace)
    assert ns.metadata.labels["pod-security.kubernetes.io/enforce"] == "restricted"
    pod = _pod_from(api, namespace, deployment)
    core = client.CoreV1Api(api)
    created = core.create_namespaced_pod(namespace, pod, dry_run="All")
    assert created.metadata.name.startswith(f"{deployment}-dry-")
    for c in pod["spec"]["containers"]:
        assert c["resources"]["limits"] and c["resources"]["requests"], c["name"]
        assert c["securityContext"]["readOnlyRootFilesystem"] is True, c["name"]
    # The same check refuses a weakened copy, so the admission above means something.
    weak = copy.deepcopy(pod)
    weak["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod(namespace, weak, dry_run="All")
    assert err.value.status == 403 and "allowPrivilegeEscalation" in err.value.body


def test_the_agent_reaches_only_what_it_reads(api, applied):
    pols = {p.metadata.name: p for p in client.NetworkingV1Api(api).list_namespaced_network_policy(AGENT_NS).items}
    egress = pols["dsa-agent-egress"].spec.egress
    targets = {}
    for rule in egress:
        for peer in rule.to:
            key = peer.namespace_selector.match_labels["kubernetes.io/metadata.name"] if peer.namespace_selector \
                else peer.ip_block.cidr
            targets[key] = sorted(p.port for p in rule.ports)
    assert targets == {"observability": [9090], APPS_NS: [8001], "0.0.0.0/0": [443, 6443, 16443]}
    dep = client.AppsV1Api(api).read_namespaced_deployment("dsa-agent", AGENT_NS)
    assert dep.spec.template.spec.service_account_name == "dsa-agent"
    cm = client.CoreV1Api(api).read_namespaced_config_map("dsa-agent", AGENT_NS)
    assert cm.data["DSA_AGENT_PROMETHEUS_URL"].startswith("http://kube-prom-stack-kube-prome-prometheus.observability.svc")
    assert cm.data["DSA_AGENT_LLM_PROVIDER"] == "none"
    assert "DSA_AGENT_LLM_API_KEY" not in cm.data


def test_autoscaling_owns_the_count_when_the_inventory_allows_growth(tmp_path):
    """city: at least 4, at most 10 by CPU; the Deployment then carries no count to fight it with."""
    _changed(_playbook("render.yml", "city_microk8s", tmp_path, tags="api"))
    render = tmp_path / "rendered" / "40-iot-api"
    (dep,) = _docs(render / "deployment.yaml")
    assert "replicas" not in dep["spec"]
    hpa = next(d for d in _docs(render / "service.yaml") if d["kind"] == "HorizontalPodAutoscaler")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (4, 10)
    assert hpa["spec"]["scaleTargetRef"]["name"] == "iot-api"


@pytest.mark.parametrize("replicas", [0, -1])
def test_a_replica_count_below_one_fails_the_preflight(tmp_path, replicas):
    proc = _playbook("render.yml", INVENTORY, tmp_path, "-e", f'{{"iot_api_k8s_replicas": {replicas}}}', tags="api")
    assert proc.returncode != 0
    assert f"iot_api_k8s_replicas: {replicas} is not a whole number of at least 1" in proc.stdout, proc.stdout[-3000:]
    assert not (tmp_path / "rendered" / "40-iot-api").exists(), "rendered despite the failed preflight"
