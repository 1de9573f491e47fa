"""The PostgreSQL role's Kubernetes modes against a real API server (localkube `api` level).

Both modes are rendered and applied through playbooks/workloads.yml (tags database) exactly as a
user runs it, with the pinned Zalando and Prometheus Operator CRDs from ../shared/crds applied
first: k8s_simple from inventories/local_k8s, k8s_operator from inventories/campus_microk8s (with
the operator UI on, so its documents are checked too). No pod runs at this level, so the waits are
off; what is checked is what the server decides: every document accepted, a second run changes
nothing, the database is reachable only as a ClusterIP Service, the cluster's size is the
inventory's, a custom resource that breaks its CRD is refused (422), and the pod templates are
admitted in a namespace enforcing the restricted Pod Security profile while a weakened copy is
refused (403)."""
from __future__ import annotations

import base64
import copy
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

pytestmark = [pytest.mark.integration, pytest.mark.kube]

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
DB_NS = "iot-data"


def _docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


@pytest.fixture(scope="module")
def api(localkube_api, shared_crds):
    """A client of the api-level cluster, with the pinned CRDs applied and Established."""
    shared_crds(localkube_api)
    return config.new_client_from_config(config_file=str(localkube_api))


def _workloads(kubeconfig: Path, inventory: str, render: Path, creds: Path, *extra: str):
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"),
               ANSIBLE_FORCE_COLOR="0", PATH=f"{VENV_BIN}:{os.environ['PATH']}")
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(ROOT / "inventories" / inventory),
           str(ROOT / "playbooks" / "workloads.yml"), "--tags", "database",
           "-e", f"dsa_k8s_kubeconfig={kubeconfig}", "-e", f"dsa_k8s_render_dir={render}",
           "-e", f"dsa_credentials_dir={creds}", "-e", "postgresql_k8s_wait=false",
           "-e", f"ansible_python_interpreter={sys.executable}", *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    recap = re.search(r"localhost\s*:\s*ok=\d+\s+changed=(\d+)", proc.stdout)
    assert recap, proc.stdout[-2000:]
    return int(recap.group(1)), proc.stdout


def _settle(kubeconfig: Path, timeout: float = 60) -> None:
    """Wait until the controllers have caught up with the workloads just applied: the apply compares
    whole objects, so a status the controller-manager is still writing would count as a change."""
    apps = client.AppsV1Api(config.new_client_from_config(config_file=str(kubeconfig)))
    deadline = time.monotonic() + timeout
    while True:
        items = apps.list_namespaced_deployment(DB_NS).items + apps.list_namespaced_stateful_set(DB_NS).items
        behind = [i.metadata.name for i in items
                  if (i.status.observed_generation or 0) < i.metadata.generation
                  or (i.status.replicas or 0) != i.spec.replicas]
        if not behind:
            time.sleep(2)
            return
        assert time.monotonic() < deadline, f"controllers did not catch up within {timeout} s: {behind}"
        time.sleep(0.5)


def _deploy(localkube_api, tmp_path_factory, inventory, *extra):
    """Run the playbook twice; return the render dir of the database and both changed counts."""
    base = tmp_path_factory.mktemp(inventory)
    render, creds = base / "rendered", base / "credentials"
    first, _ = _workloads(localkube_api, inventory, render, creds, *extra)
    _settle(localkube_api)
    second, out = _workloads(localkube_api, inventory, render, creds, *extra)
    return {"dir": render / "20-database", "first": first, "second": second, "out": out,
            "creds": creds}


@pytest.fixture(scope="module")
def simple(api, localkube_api, tmp_path_factory):
    return _deploy(localkube_api, tmp_path_factory, "local_k8s")


@pytest.fixture(scope="module")
def operator(api, localkube_api, tmp_path_factory, simple):
    # After the simple mode: both share the namespaces, the operator's objects have other names.
    return _deploy(localkube_api, tmp_path_factory, "campus_microk8s", "-e", "postgresql_k8s_operator_ui=true")


def _cluster_doc(run) -> dict:
    (cr,) = [d for d in _docs(run["dir"] / "postgresql.yaml") if d["kind"] == "postgresql"]
    return cr


def _server_copy(api, doc):
    """Read back the object a rendered document describes (a 404 fails the test)."""
    dyn = __import__("kubernetes.dynamic", fromlist=["DynamicClient"]).DynamicClient(api)
    res = dyn.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
    meta = doc["metadata"]
    return res.get(name=meta["name"], namespace=meta.get("namespace")).to_dict()


@pytest.mark.parametrize("mode", ["simple", "operator"])
def test_every_document_is_accepted_and_a_second_run_changes_nothing(request, api, mode):
    run = request.getfixturevalue(mode)
    files = sorted(run["dir"].glob("*.yaml"))
    assert len(files) >= 4, (files, run["out"][-3000:])
    assert run["first"] > 0, "the first run applied nothing"
    assert run["second"] == 0, "second run changed something:\n" + run["out"][-3000:]
    count = 0
    for path in files:
        for doc in _docs(path):
            live = _server_copy(api, doc)
            labels = live["metadata"].get("labels") or {}
            assert labels.get("app.kubernetes.io/part-of") == "dsa-platform", (path.name, doc["kind"])
            assert labels.get("app.kubernetes.io/managed-by") == "dsa-platform", (path.name, doc["kind"])
            assert labels.get("app.kubernetes.io/name") == "postgresql", (path.name, doc["kind"])
            count += 1
    assert count >= 7


@pytest.mark.parametrize("mode, name", [
    ("simple", "iot-db-credentials"),
    # The operator's own name for the user iot_api (underscore to dash): it reads the password there.
    ("operator", "iot-api.iot-db.credentials.postgresql.acid.zalan.do"),
])
def test_the_secret_is_private_and_its_password_only_there(request, api, mode, name):
    run = request.getfixturevalue(mode)
    secret = run["dir"] / "secret.secret.yaml"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    (doc,) = _docs(secret)
    assert doc["metadata"]["name"] == name
    password = doc["stringData"]["password"]
    assert password == (run["creds"] / "iot_api_db").read_text().strip()
    assert len(password) >= 20
    for path in run["dir"].glob("*.yaml"):
        if path != secret:
            assert password not in path.read_text(), f"the database password is in {path.name}"
    assert password not in run["out"]
    live = client.CoreV1Api(api).read_namespaced_secret(name, DB_NS)
    assert base64.b64decode(live.data["password"]).decode() == password
    assert base64.b64decode(live.data["username"]).decode() == "iot_api"


@pytest.mark.parametrize("mode", ["simple", "operator"])
def test_no_database_service_leaves_the_cluster(request, api, mode):
    request.getfixturevalue(mode)
    services = client.CoreV1Api(api).list_namespaced_service(DB_NS).items
    assert services
    assert {s.spec.type for s in services} == {"ClusterIP"}, [(s.metadata.name, s.spec.type) for s in services]
    if mode == "simple":
        db = client.CoreV1Api(api).read_namespaced_service("iot-db", DB_NS)
        assert db.spec.cluster_ip not in (None, "None")  # a routable ClusterIP, not only the headless one
        assert [p.port for p in db.spec.ports] == [5432]
    else:
        cr = _cluster_doc(request.getfixturevalue(mode))
        no_exposure = [k for k in cr["spec"] if k.endswith(("LoadBalancer", "NodePort")) and cr["spec"][k]]
        assert not no_exposure


def test_the_cluster_has_the_inventory_size(api, operator):
    sizing = yaml.safe_load((ROOT / "inventories/campus_microk8s/group_vars/all/postgresql.yml").read_text())
    live = client.CustomObjectsApi(api).get_namespaced_custom_object(
        "acid.zalan.do", "v1", DB_NS, "postgresqls", "iot-db")
    spec = live["spec"]
    assert spec["numberOfInstances"] == sizing["postgresql_k8s_instances"] == 3
    assert spec["enableConnectionPooler"] is True
    assert spec["connectionPooler"]["numberOfInstances"] == sizing["postgresql_k8s_pooler_instances"]
    assert spec["connectionPooler"]["mode"] == "transaction"
    assert spec["teamId"] == "iot" and live["metadata"]["name"].startswith("iot-")
    assert spec["users"] == {"iot_api": []} and spec["databases"] == {"iot": "iot_api"}
    assert spec["volume"] == {"size": sizing["postgresql_k8s_volume_size"], "storageClass": "microk8s-hostpath"}
    assert [s["name"] for s in spec["sidecars"]] == ["exporter"]
    conf = client.CustomObjectsApi(api).get_namespaced_custom_object(
        "acid.zalan.do", "v1", DB_NS, "operatorconfigurations", "postgres-operator")["configuration"]
    assert conf["kubernetes"]["watched_namespace"] == DB_NS
    assert not any(v for k, v in conf["load_balancer"].items() if k.startswith("enable_"))


@pytest.mark.parametrize("path, value", [
    (("spec", "numberOfInstances"), "three"),
    (("spec", "connectionPooler", "mode"), "statement"),
    (("spec", "postgresql", "version"), "9.6"),
])
def test_a_cluster_that_breaks_the_crd_is_refused(api, operator, path, value):
    cr = _cluster_doc(operator)
    bad = copy.deepcopy(cr)
    bad["metadata"]["name"] = "iot-broken"
    node = bad
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    custom = client.CustomObjectsApi(api)
    with pytest.raises(ApiException) as err:
        custom.create_namespaced_custom_object("acid.zalan.do", "v1", DB_NS, "postgresqls", bad, dry_run="All")
    assert err.value.status == 422
    assert ".".join(path) in err.value.body
    # The unbroken document passes the same check: the refusal is the broken field's.
    good = dict(copy.deepcopy(cr), metadata={"name": "iot-unbroken", "namespace": DB_NS})
    custom.create_namespaced_custom_object("acid.zalan.do", "v1", DB_NS, "postgresqls", good, dry_run="All")


def test_an_operator_configuration_that_breaks_the_crd_is_refused(api, operator):
    (conf,) = _docs(operator["dir"] / "operator-config.yaml")
    bad = copy.deepcopy(conf)
    bad["metadata"]["name"] = "broken"
    bad["configuration"]["kubernetes"]["pod_management_policy"] = "random"
    with pytest.raises(ApiException) as err:
        client.CustomObjectsApi(api).create_namespaced_custom_object(
            "acid.zalan.do", "v1", DB_NS, "operatorconfigurations", bad, dry_run="All")
    assert err.value.status == 422
    assert "pod_management_policy" in err.value.body


def _pod_from(template: dict, name: str) -> dict:
    spec = copy.deepcopy(template["spec"])
    # A volume claim template becomes a claim only through the StatefulSet; any volume stands in.
    mounted = {m["name"] for c in spec["containers"] for m in c.get("volumeMounts", [])}
    known = {v["name"] for v in spec.get("volumes", [])}
    spec.setdefault("volumes", []).extend({"name": n, "emptyDir": {}} for n in sorted(mounted - known))
    # Probed in another namespace, where the workload's service account does not exist.
    spec.pop("serviceAccountName", None)
    spec.pop("serviceAccount", None)
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": template["metadata"]["labels"]}, "spec": spec}


def _workload_templates(api, run):
    apps = client.AppsV1Api(api)
    out = {}
    for path in run["dir"].glob("*.yaml"):
        for doc in _docs(path):
            if doc["kind"] == "StatefulSet":
                live = apps.read_namespaced_stateful_set(doc["metadata"]["name"], DB_NS)
            elif doc["kind"] == "Deployment":
                live = apps.read_namespaced_deployment(doc["metadata"]["name"], DB_NS)
            else:
                continue
            out[doc["metadata"]["name"]] = api.sanitize_for_serialization(live.spec.template)
    return out


@pytest.mark.parametrize("mode", ["simple", "operator"])
def test_pod_templates_are_admitted_as_restricted_and_a_weakened_one_is_not(request, api, mode):
    run = request.getfixturevalue(mode)
    core = client.CoreV1Api(api)
    # What this mode's rendering asks of the database namespace (both modes share one cluster, so the
    # live labels are those of whichever ran last).
    (namespace,) = [d["metadata"] for d in _docs(run["dir"].parent / "00-namespaces" / "namespaces.yaml")
                    if d["kind"] == "Namespace" and d["metadata"]["name"] == DB_NS]
    if mode == "simple":
        assert namespace["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    else:
        # The operator's generated Spilo/pgbouncer pods cannot meet restricted: a documented exception.
        assert namespace["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"
        assert "Zalando" in namespace["annotations"]["dsa-platform/pod-security-exception"]
    # Our own pod templates must meet restricted in either mode: probe them in a namespace enforcing it.
    probe_ns = "psa-restricted-probe"
    try:
        core.create_namespace({"metadata": {"name": probe_ns,
                                            "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}})
    except ApiException as err:
        assert err.status == 409, err.body
    templates = _workload_templates(api, run)
    assert templates, "no workload rendered"
    for name, template in templates.items():
        for container in template["spec"]["containers"]:
            assert container["resources"]["limits"] and container["resources"]["requests"], (name, container["name"])
            assert container.get("livenessProbe") and container.get("readinessProbe"), (name, container["name"])
        core.create_namespaced_pod(probe_ns, _pod_from(template, f"admit-{name}"), dry_run="All")
        weak = _pod_from(template, f"weak-{name}")
        weak["spec"]["securityContext"].pop("runAsNonRoot")
        weak["spec"]["securityContext"].pop("runAsUser", None)
        weak["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
        with pytest.raises(ApiException) as err:
            core.create_namespaced_pod(probe_ns, weak, dry_run="All")
        assert err.value.status == 403 and "violates PodSecurity" in err.value.body, name


def test_the_statefulset_pod_is_created_through_admission(api, simple):
    """The controller-manager creates iot-db-0 from the template: Pod Security let it in."""
    core = client.CoreV1Api(api)
    deadline = time.monotonic() + 60
    while True:
        try:
            pod = core.read_namespaced_pod("iot-db-0", DB_NS)
            break
        except ApiException as err:
            assert err.status == 404
            events = core.list_namespaced_event(DB_NS, field_selector="involvedObject.name=iot-db").items
            refused = [e.message for e in events if e.reason == "FailedCreate"]
            assert not refused, refused
            assert time.monotonic() < deadline, "no pod iot-db-0 within 60 s"
            time.sleep(1)
    assert pod.spec.security_context.run_as_non_root is True
    claims = client.CoreV1Api(api).read_namespaced_persistent_volume_claim("data-iot-db-0", DB_NS)
    sizing = yaml.safe_load((ROOT / "inventories/local_k8s/group_vars/all/postgresql.yml").read_text())
    assert claims.spec.storage_class_name == "dsa-local"
    assert claims.spec.resources.requests["storage"] == sizing["postgresql_k8s_volume_size"]


def test_only_the_api_reaches_postgresql_and_only_monitoring_the_exporter(api, simple):
    net = client.NetworkingV1Api(api)
    policy = api.sanitize_for_serialization(net.read_namespaced_network_policy("iot-db-ingress", DB_NS))
    rules = {tuple(p["port"] for p in r["ports"]): r["from"] for r in policy["spec"]["ingress"]}
    assert rules[(5432,)] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "iot"}},
                               "podSelector": {"matchLabels": {"app.kubernetes.io/name": "iot-api"}}}]
    assert rules[(9187,)] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "observability"}}}]
    assert set(rules) == {(5432,), (9187,)}


@pytest.mark.parametrize("mode", ["simple", "operator"])
def test_the_servicemonitor_finds_a_service_with_the_metrics_port(request, api, mode):
    request.getfixturevalue(mode)
    monitor = client.CustomObjectsApi(api).get_namespaced_custom_object(
        "monitoring.coreos.com", "v1", DB_NS, "servicemonitors", "iot-db")
    assert monitor["metadata"]["labels"]["release"] == "kube-prom-stack"
    selector = ",".join(f"{k}={v}" for k, v in monitor["spec"]["selector"]["matchLabels"].items())
    services = client.CoreV1Api(api).list_namespaced_service(DB_NS, label_selector=selector).items
    assert services, f"no Service matches {selector}"
    port = monitor["spec"]["endpoints"][0]["port"]
    for svc in services:
        assert port in [p.name for p in svc.spec.ports]
        assert 9187 in [p.port for p in svc.spec.ports if p.name == port]


@pytest.mark.parametrize("var, value, message", [
    ("postgresql_k8s_volume_size", "5GB", "postgresql_k8s_volume_size must be a quantity such as 5Gi (is 5GB)"),
])
def test_bad_input_fails_naming_the_variable(tmp_path, var, value, message):
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"),
               PATH=f"{VENV_BIN}:{os.environ['PATH']}")
    proc = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "-i", str(ROOT / "inventories" / "local_k8s"),
         str(ROOT / "playbooks" / "render.yml"), "--tags", "database",
         "-e", f"dsa_k8s_render_dir={tmp_path}", "-e", f"dsa_credentials_dir={tmp_path / 'c'}",
         "-e", f"{var}={value}", "-e", f"ansible_python_interpreter={sys.executable}"],
        capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode != 0
    assert message in proc.stdout, proc.stdout[-3000:]
    assert not (tmp_path / "20-database").exists()
