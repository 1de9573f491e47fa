"""The real Zalando postgres-operator reconciling the role's k8s_operator documents (localkube `api` level).

The operator is built from its Go module (tools/localkube/pins.toml `postgres_operator`, through
localkube.build.go_build) and runs here as a process out of cluster (`-outofcluster -kubeconfig`),
configured by the OperatorConfiguration the role renders (POSTGRES_OPERATOR_CONFIGURATION_OBJECT,
its namespace from OPERATOR_NAMESPACE). The role's documents are rendered and applied by
playbooks/workloads.yml (tags database) from inventories/campus_microk8s, into a namespace of this
module's own so that tests/kube/test_postgresql_k8s.py's objects stay apart.

What the operator creates from them is asserted: the cluster is picked up (status Creating), the
StatefulSet with the inventory's instances, resources and volume, the exporter sidecar, ClusterIP
Services only, the credentials Secrets of the declared users (the API's password still the role's),
and the ServiceMonitor's chain down to the operator's pods. A copy of the cluster outside the
watched namespace must be left alone: the operator's status is read, not assumed.

The cluster never reaches Running here: its Spilo (PostgreSQL + Patroni) and pgbouncer images
come from a registry and cannot be made on this machine, and at this level nothing schedules the
StatefulSet's pods anyway; the operator waits for ready pods before it creates the pooler (it
first installs a lookup function in the database), so the pooler Deployment is out of reach and
only its login Secret, made from the manifest up front, is checked.
"""
from __future__ import annotations

import base64
import copy
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config, dynamic
from kubernetes.client.rest import ApiException

from localkube import build as lkbuild
from localkube.util import pins

pytestmark = [pytest.mark.integration, pytest.mark.kube]

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
INVENTORY = "campus_microk8s"
DB_NS = "zalando-test-data"
MODULE = "github.com/zalando/postgres-operator"
STARTED_LINE = "started working in background"
START_TIMEOUT = 60
RECONCILE_TIMEOUT = 90
# How long this run's operator waits for ready database pods before it reports the creation failed.
POD_WAIT_S = 30


def _docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _doc(path: Path, kind: str) -> dict:
    (doc,) = [d for d in _docs(path) if d["kind"] == kind]
    return doc


@pytest.fixture(scope="module")
def operator_binary() -> Path:
    return lkbuild.go_build(MODULE, pins()["postgres_operator"], "cmd", "postgres-operator")


@pytest.fixture(scope="module")
def deployed(localkube_api, shared_crds, run_playbook, tmp_path_factory):
    """The role's k8s_operator documents applied by the real playbook; returns their render dir."""
    shared_crds(localkube_api)
    base = tmp_path_factory.mktemp("zalando")
    proc = run_playbook(
        "-i", str(ROOT / "inventories" / INVENTORY), str(ROOT / "playbooks" / "workloads.yml"), "--tags", "database",
        "-e", f"dsa_k8s_kubeconfig={localkube_api}", "-e", f"dsa_k8s_render_dir={base / 'rendered'}",
        "-e", f"dsa_credentials_dir={base / 'credentials'}", "-e", f"dsa_k8s_database_namespace={DB_NS}",
        # No database pod can run at this level (see the module docstring).
        "-e", "postgresql_k8s_wait=false", "-e", f"ansible_python_interpreter={sys.executable}",
        timeout=300, env={"PATH": f"{VENV_BIN}:{os.environ['PATH']}"})
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return base / "rendered" / "20-database"


@pytest.fixture(scope="module")
def api(localkube_api):
    return config.new_client_from_config(config_file=str(localkube_api))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Operator:
    def __init__(self, log: Path, started: float):
        self.log, self.started = log, started

    def tail(self, lines: int = 60) -> str:
        return "\n--- operator log (tail) ---\n" + "\n".join(self.log.read_text().splitlines()[-lines:])


def test_the_operator_stops_without_its_configuration(operator_binary, localkube_api, tmp_path):
    """Why the role applies the configuration before it waits for the clusters' CRD: the operator
    reads its configuration before it registers that CRD, and exits while it is missing."""
    env = dict(os.environ, OPERATOR_NAMESPACE=DB_NS, POSTGRES_OPERATOR_CONFIGURATION_OBJECT="no-such-configuration")
    proc = subprocess.run([str(operator_binary), "-outofcluster", "-kubeconfig", str(localkube_api)],
                          capture_output=True, text=True, env=env, timeout=START_TIMEOUT, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert "unable to read operator configuration" in out and "no-such-configuration" in out, out[-3000:]


def _service_account_kubeconfig(api, admin: Path, account: str, work: Path) -> Path:
    """A kubeconfig for the role's operator ServiceAccount (a short-lived token): the operator runs
    with the rights the role's RBAC gives it, as in its pod."""
    token = client.CoreV1Api(api).create_namespaced_service_account_token(
        account, DB_NS, {"spec": {"expirationSeconds": 3600}}).status.token
    conf = yaml.safe_load(admin.read_text())
    conf["users"] = [{"name": account, "user": {"token": token}}]
    for context in conf["contexts"]:
        context["context"]["user"] = account
    path = work / "operator.kubeconfig"
    path.touch(mode=0o600)
    path.write_text(yaml.safe_dump(conf))
    return path


@pytest.fixture(scope="module")
def operator(operator_binary, deployed, localkube_api, api, tmp_path_factory):
    """The operator as a process, from its readiness line until the module ends (then killed).

    The playbook applied the cluster before any operator ran: it is taken back and sent again once
    the operator is up, as when the operator already runs (ADD, the path that reports Creating;
    one that finds the cluster at start only syncs it and sets no status until that ends)."""
    conf = _doc(deployed / "operator-config.yaml", "OperatorConfiguration")
    cr = _doc(deployed / "postgresql.yaml", "postgresql")
    objects = client.CustomObjectsApi(api)
    # This run's copy of the configuration differs in two values only: its REST API listens on
    # every address at the configured port, which another process here may hold, and the wait
    # for ready pods (none can be ready here) is cut from the role's 10m so that its failure is seen.
    port = _free_port()
    objects.patch_namespaced_custom_object(
        "acid.zalan.do", "v1", DB_NS, "operatorconfigurations", conf["metadata"]["name"],
        {"configuration": {"logging_rest_api": {"api_port": port},
                           "timeouts": {"resource_check_timeout": f"{POD_WAIT_S}s"}}})
    objects.delete_namespaced_custom_object("acid.zalan.do", "v1", DB_NS, "postgresqls", cr["metadata"]["name"])
    work = tmp_path_factory.mktemp("operator")
    log = work / "operator.log"
    kubeconfig = _service_account_kubeconfig(api, localkube_api, conf["metadata"]["name"], work)
    env = dict(os.environ, OPERATOR_NAMESPACE=DB_NS,
               POSTGRES_OPERATOR_CONFIGURATION_OBJECT=conf["metadata"]["name"])
    started = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.Popen([str(operator_binary), "-outofcluster", "-kubeconfig", str(kubeconfig)],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    op = Operator(log, started)
    try:
        deadline = started + START_TIMEOUT
        while STARTED_LINE not in log.read_text():
            assert proc.poll() is None, f"the operator exited with {proc.returncode}" + op.tail()
            assert time.monotonic() < deadline, f"no '{STARTED_LINE}' within {START_TIMEOUT} s" + op.tail()
            time.sleep(0.5)
        op.ready_s = time.monotonic() - started
        objects.create_namespaced_custom_object("acid.zalan.do", "v1", DB_NS, "postgresqls", cr)
        op.sent = time.monotonic()
        yield op
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _wait(what: str, probe, op: Operator, timeout: float = RECONCILE_TIMEOUT):
    """Poll probe() until it returns something truthy; its last value, or a failure with the log."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = probe()
        except ApiException as exc:
            if exc.status != 404:
                raise
            value = None
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s" + op.tail()
        time.sleep(1)


def _status(api, name: str, namespace: str = DB_NS) -> str:
    cr = client.CustomObjectsApi(api).get_namespaced_custom_object(
        "acid.zalan.do", "v1", namespace, "postgresqls", name)
    return (cr.get("status") or {}).get("PostgresClusterStatus", "")


@pytest.fixture(scope="module")
def cluster(deployed, operator, api):
    """The cluster once the operator has created its StatefulSet; records how long that took."""
    cr = _doc(deployed / "postgresql.yaml", "postgresql")
    name = cr["metadata"]["name"]
    sts = _wait("the operator's StatefulSet", lambda: client.AppsV1Api(api).read_namespaced_stateful_set(
        name, DB_NS), operator)
    print(f"operator: ready {operator.ready_s:.1f} s after its start; StatefulSet "
          f"{time.monotonic() - operator.sent:.1f} s after the cluster was sent")
    return {"cr": cr, "name": name, "sts": sts}


def test_the_cluster_is_picked_up_and_one_outside_the_watched_namespace_is_not(api, deployed, operator):
    cr = _doc(deployed / "postgresql.yaml", "postgresql")
    # A copy in a namespace the configuration does not watch, sent before the operator's first
    # resync could be credited for it: it must keep an empty status and get no StatefulSet.
    stray = copy.deepcopy(cr)
    stray["metadata"] = {"name": cr["metadata"]["name"], "namespace": "default"}
    objects = client.CustomObjectsApi(api)
    objects.create_namespaced_custom_object("acid.zalan.do", "v1", "default", "postgresqls", stray)
    try:
        status = _wait("a status", lambda: _status(api, cr["metadata"]["name"]) or None, operator)
        # Running is never reached here (no pod is ready): Creating until the operator's wait ends.
        assert status == "Creating", f"status {status!r}" + operator.tail()
        print(f"operator: status Creating {time.monotonic() - operator.sent:.1f} s after the cluster was sent")
        time.sleep(5)
        assert _status(api, cr["metadata"]["name"], "default") == "", operator.tail()
        with pytest.raises(ApiException) as missing:
            client.AppsV1Api(api).read_namespaced_stateful_set(cr["metadata"]["name"], "default")
        assert missing.value.status == 404
    finally:
        objects.delete_namespaced_custom_object("acid.zalan.do", "v1", "default", "postgresqls",
                                                cr["metadata"]["name"])


def _container(pod_spec, name: str):
    (found,) = [c for c in pod_spec.containers if c.name == name]
    return found


def test_the_statefulset_has_the_inventorys_size_resources_and_volume(cluster):
    spec = cluster["cr"]["spec"]
    sts = cluster["sts"]
    assert sts.spec.replicas == spec["numberOfInstances"] == 3
    postgres = _container(sts.spec.template.spec, "postgres")
    assert postgres.resources.requests == spec["resources"]["requests"] == {"cpu": "500m", "memory": "1Gi"}
    assert postgres.resources.limits == spec["resources"]["limits"] == {"cpu": "2", "memory": "2Gi"}
    (claim,) = sts.spec.volume_claim_templates
    assert claim.spec.resources.requests["storage"] == spec["volume"]["size"] == "20Gi"
    assert claim.spec.storage_class_name == spec["volume"]["storageClass"]
    # The inventory requires one database pod per node.
    affinity = sts.spec.template.spec.affinity.pod_anti_affinity
    assert affinity.required_during_scheduling_ignored_during_execution


def test_the_exporter_sidecar_is_in_the_pod_template(cluster):
    (sidecar,) = cluster["cr"]["spec"]["sidecars"]
    exporter = _container(cluster["sts"].spec.template.spec, "exporter")
    assert exporter.image == sidecar["image"]
    assert [(p.name, p.container_port) for p in exporter.ports] == [("metrics", sidecar["ports"][0]["containerPort"])]
    env = {e.name: e for e in exporter.env}
    # The operator gives its sidecars the superuser's login, which DATA_SOURCE_USER/PASS refer to.
    assert env["POSTGRES_USER"].value == "postgres"
    assert env["POSTGRES_PASSWORD"].value_from.secret_key_ref.name == \
        f"postgres.{cluster['name']}.credentials.postgresql.acid.zalan.do"


def test_the_operators_services_are_cluster_ip_only(api, cluster, operator):
    core = client.CoreV1Api(api)
    for name in (cluster["name"], f"{cluster['name']}-repl"):
        svc = _wait(f"Service {name}", lambda n=name: core.read_namespaced_service(n, DB_NS), operator)
        assert svc.spec.type == "ClusterIP", name
    types = {s.metadata.name: s.spec.type for s in core.list_namespaced_service(DB_NS).items}
    assert not {n: t for n, t in types.items() if t != "ClusterIP"}, types


def test_a_disruption_budget_keeps_the_primary(api, cluster, operator):
    name = f"postgres-{cluster['name']}-pdb"
    pdb = _wait(f"PodDisruptionBudget {name}", lambda: client.PolicyV1Api(api).read_namespaced_pod_disruption_budget(
        name, DB_NS), operator)
    assert pdb.spec.min_available == 1
    selector = dict(pdb.spec.selector.match_labels)
    assert selector.pop("spilo-role") == "master"
    assert selector.items() <= cluster["sts"].spec.template.metadata.labels.items(), selector


def test_the_declared_users_get_their_secrets_and_the_api_keeps_its_password(api, cluster, deployed, operator):
    core = client.CoreV1Api(api)
    users = ["postgres", "standby", *(u.replace("_", "-") for u in cluster["cr"]["spec"]["users"])]
    # The pooler's login is made from the manifest up front, its Deployment only later (see above).
    users.append("pooler")
    for user in users:
        name = f"{user}.{cluster['name']}.credentials.postgresql.acid.zalan.do"
        secret = _wait(f"Secret {name}", lambda n=name: core.read_namespaced_secret(n, DB_NS), operator)
        assert secret.data.get("password"), name
    rendered = _doc(deployed / "secret.secret.yaml", "Secret")
    server = core.read_namespaced_secret(rendered["metadata"]["name"], DB_NS)
    # Compared, never printed: the operator must use the role's password, not generate its own.
    same = base64.b64decode(server.data["password"]).decode() == rendered["stringData"]["password"]
    assert same, "the operator replaced the API's password"
    assert base64.b64decode(server.data["username"]).decode() == rendered["stringData"]["username"]


def test_the_servicemonitor_reaches_the_operators_pods(api, cluster, deployed):
    monitor = _doc(deployed / "servicemonitor.yaml", "ServiceMonitor")
    metrics = _doc(deployed / "postgresql.yaml", "Service")
    labels = metrics["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert DB_NS in monitor["spec"]["namespaceSelector"]["matchNames"]
    server = client.CoreV1Api(api).read_namespaced_service(metrics["metadata"]["name"], DB_NS)
    # The Service selects the pods of the operator's StatefulSet and names the exporter's port.
    pod_labels = cluster["sts"].spec.template.metadata.labels
    assert server.spec.selector.items() <= pod_labels.items(), (server.spec.selector, pod_labels)
    assert [p.name for p in server.spec.ports] == [monitor["spec"]["endpoints"][0]["port"]]
    pods = client.CoreV1Api(api).list_namespaced_pod(
        DB_NS, label_selector=",".join(f"{k}={v}" for k, v in server.spec.selector.items())).items
    # The controller-manager creates the first pod (nothing schedules it at this level).
    assert pods, "no pod of the StatefulSet matches the metrics Service's selector"


def test_the_operator_reports_that_no_pod_became_ready(api, cluster, operator):
    """The status is the operator's own word: once its wait for ready pods ends, it says the
    creation failed and logs why (here no database pod can start, see the module docstring)."""
    status = _wait("status CreateFailed", lambda: _status(api, cluster["name"]) != "Creating"
                   and _status(api, cluster["name"]), operator, timeout=POD_WAIT_S + RECONCILE_TIMEOUT)
    assert status == "CreateFailed", f"status {status!r}" + operator.tail()
    assert "failed to create cluster: stateful set error" in operator.log.read_text(), operator.tail()


def test_the_roles_rbac_is_enough_for_the_operator(cluster, operator):
    """It ran as the role's ServiceAccount: nothing it did was refused."""
    refused = [line for line in operator.log.read_text().splitlines() if "forbidden" in line.lower()]
    assert not refused, "\n".join(refused[:10])
