"""A localkube node runs real pods: an image built locally (no registry) reaches Running/Ready and
serves through a ClusterIP Service (kube-proxy iptables), a claim of the `dsa-local` class binds to
one of the pre-made hostPath volumes when its pod is scheduled, and `down` leaves the machine as it
was (volumes included)."""
from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from kubernetes import client, config


pytestmark = [pytest.mark.integration, pytest.mark.kube_node]

FILES = Path(__file__).parent / "files"
IMAGE = "localkube-echo:test-1"


@pytest.fixture(scope="module")
def api(localkube_node):
    return config.new_client_from_config(config_file=str(localkube_node))


@pytest.fixture(scope="module")
def echo_image(localkube_node, localkube_cli):
    """The echo image, built locally and imported into the node's containerd."""
    built = localkube_cli("image", "build", "--tag", IMAGE, str(FILES / "echo"), timeout=900)
    assert built.returncode == 0, built.stderr[-3000:]
    assert built.stdout.strip().splitlines()[-1] == f"localhost/{IMAGE}"
    imported = localkube_cli("image", "import", IMAGE, "--name", localkube_node.parent.name, timeout=300)
    assert imported.returncode == 0, imported.stderr[-3000:]
    return f"localhost/{IMAGE}"


def test_local_image_runs_and_serves_through_a_cluster_ip(localkube_node, localkube_cli, api, echo_image):
    localkube = localkube_cli

    ns = f"t-{uuid.uuid4().hex[:8]}"
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    core.create_namespace({"metadata": {"name": ns}})
    labels = {"app": "echo"}
    apps.create_namespaced_deployment(ns, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "echo"},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {"terminationGracePeriodSeconds": 5, "containers": [{
                "name": "echo", "image": f"localhost/{IMAGE}", "imagePullPolicy": "Never",
                "ports": [{"containerPort": 8080}],
                "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 1},
            }]}}}})
    svc = core.create_namespaced_service(ns, {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "echo"},
        "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]}})
    cluster_ip = svc.spec.cluster_ip
    assert cluster_ip.startswith("10.96.")

    deadline = time.monotonic() + 90
    pod = None
    while time.monotonic() < deadline:
        pods = core.list_namespaced_pod(ns, label_selector="app=echo").items
        ready = [p for p in pods if p.status.phase == "Running" and any(
            c.type == "Ready" and c.status == "True" for c in (p.status.conditions or []))]
        if ready:
            pod = ready[0]
            break
        time.sleep(0.5)
    assert pod is not None, f"echo pod not Ready in 90s: {[(p.metadata.name, p.status.phase) for p in pods]}"

    # Through the Service: kube-proxy's DNAT from the ClusterIP to the pod.
    body = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://{cluster_ip}/hello", timeout=2) as resp:
                body = json.loads(resp.read())
                break
        except OSError:
            time.sleep(0.5)
    assert body == {"pod": pod.metadata.name, "path": "/hello"}

    # From inside a pod: the Service by its DNS name (CoreDNS), pod -> Service -> pod, and the
    # apiserver through the `kubernetes` Service with the pod's own ServiceAccount token.
    kubectl = Path(localkube("build", "--level", "node").stdout.strip().splitlines()[-1]) / "kubectl"
    script = (
        "import json, ssl, urllib.request as u\n"
        f"print(u.urlopen('http://echo.{ns}.svc.cluster.local/dns', timeout=5).read().decode())\n"
        "sa = '/var/run/secrets/kubernetes.io/serviceaccount/'\n"
        "ctx = ssl.create_default_context(cafile=sa + 'ca.crt')\n"
        "req = u.Request('https://kubernetes.default.svc/api', headers={'Authorization': 'Bearer ' + open(sa + 'token').read()})\n"
        "print(json.loads(u.urlopen(req, context=ctx, timeout=5).read())['kind'])\n")
    inside = subprocess.run([str(kubectl), "--kubeconfig", str(localkube_node), "-n", ns, "exec", pod.metadata.name,
                             "--", "python3", "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert inside.returncode == 0, inside.stderr[-2000:]
    lines = inside.stdout.strip().splitlines()
    assert json.loads(lines[0]) == {"pod": pod.metadata.name, "path": "/dns"}
    assert lines[1] == "APIVersions"
    core.delete_namespace(ns)


def _wait(what: str, probe, timeout: float, interval: float = 0.5):
    """Poll probe() until it returns something truthy; fail naming what did not happen."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"{what}: not within {timeout:.0f}s")


def test_a_claim_binds_to_a_local_volume_when_its_pod_is_scheduled(localkube_node, api, echo_image):
    core, storage = client.CoreV1Api(api), client.StorageV1Api(api)
    sc = storage.read_storage_class("dsa-local")
    assert sc.provisioner == "kubernetes.io/no-provisioner"
    assert sc.volume_binding_mode == "WaitForFirstConsumer"
    volumes = sorted((pv for pv in core.list_persistent_volume().items if pv.spec.storage_class_name == "dsa-local"),
                     key=lambda pv: pv.metadata.name)
    count = int(os.environ.get("DSA_LOCALKUBE_VOLUMES", "4"))
    assert len(volumes) == count >= 1
    volume_root = localkube_node.parent / "volumes"
    assert sorted(Path(pv.spec.host_path.path) for pv in volumes) == sorted(volume_root / f"pv{i}"
                                                                             for i in range(1, count + 1))
    assert all(Path(pv.spec.host_path.path).is_dir() for pv in volumes)
    # Other tests of the session may have claimed some already.
    assert any(pv.status.phase == "Available" for pv in volumes), [(pv.metadata.name, pv.status.phase) for pv in volumes]

    ns = f"t-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": ns}})
    core.create_namespaced_persistent_volume_claim(ns, {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
        "spec": {"storageClassName": "dsa-local", "accessModes": ["ReadWriteOnce"],
                 "resources": {"requests": {"storage": "1Gi"}}}})
    # WaitForFirstConsumer: no pod yet, so the claim stays unbound.
    time.sleep(3)
    assert core.read_namespaced_persistent_volume_claim("data", ns).status.phase == "Pending"

    # A non-root pod (hostPath has no fsGroup) writes through the claim.
    core.create_namespaced_pod(ns, {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "writer"},
        "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
                 "securityContext": {"runAsUser": 10001, "runAsGroup": 10001, "runAsNonRoot": True},
                 "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
                 "containers": [{"name": "writer", "image": echo_image, "imagePullPolicy": "Never",
                                 "command": ["python3", "-c", "open('/data/hello', 'w').write('written by a pod')"],
                                 "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}})

    def done():
        phase = core.read_namespaced_pod("writer", ns).status.phase
        assert phase != "Failed", "the writer pod failed (volume not writable?)"
        return phase == "Succeeded"
    _wait("the writer pod on the claimed volume finished", done, 90)
    claim = core.read_namespaced_persistent_volume_claim("data", ns)
    assert claim.status.phase == "Bound"
    bound = core.read_persistent_volume(claim.spec.volume_name)
    assert bound.spec.storage_class_name == "dsa-local"
    assert (Path(bound.spec.host_path.path) / "hello").read_text() == "written by a pod"
    core.delete_namespace(ns)


def _chains(tool: str) -> set[str]:
    out = subprocess.run([f"{tool}-save"], capture_output=True, text=True, check=True).stdout
    table, names = None, set()
    for line in out.splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith(":"):
            names.add(f"{table}/{line[1:].split()[0]}")
    return names


def test_down_leaves_no_leftovers(localkube_node, localkube_cli, localkube_node_before):
    localkube, NODE_BEFORE = localkube_cli, localkube_node_before
    state_dir = localkube_node.parent
    name = state_dir.name  # the fixture's cluster (conftest.NODE_NAME)
    assert NODE_BEFORE, "the node fixture records the machine before start"
    down = localkube("down", "--name", name, timeout=600)
    assert down.returncode == 0, down.stderr[-3000:]
    assert not state_dir.exists()
    # No process of the cluster or of its containers.
    mine = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes().decode(errors="replace")
                cgroup = (proc / "cgroup").read_text()
            except OSError:
                continue
            if str(state_dir) in cmd or f"/run/dsa-localkube/{name}" in cmd or "/kubepods" in cgroup:
                mine.append(cmd.replace("\0", " ")[:120])
    assert mine == []
    mounts = Path("/proc/self/mountinfo").read_text()
    assert str(state_dir) not in mounts and "/run/dsa-localkube" not in mounts and "/run/netns/cni-" not in mounts
    for tool in ("iptables", "ip6tables"):
        new = {c for c in _chains(tool) - set(NODE_BEFORE["chains"].get(tool, []))
               if c.split("/", 1)[1].startswith(("KUBE-", "CNI-"))}
        assert new == set(), f"{tool} chains left: {sorted(new)}"
    # The kubelet's three global settings are back; IPv4 forwarding too unless another container
    # network (podman's, which needs and sets it) is in use right now.
    netns = Path("/run/netns")
    foreign = [n for n in (os.listdir(netns) if netns.is_dir() else []) if not n.startswith("cni-")]
    keys = [k for k in NODE_BEFORE["sysctls"] if not (k == "net/ipv4/ip_forward" and foreign)]
    assert {"vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops"} <= set(keys)
    now = {k: Path("/proc/sys", k).read_text().strip() for k in keys}
    assert now == {k: NODE_BEFORE["sysctls"][k] for k in keys}
    assert not Path("/sys/class/net/lkcni0").exists()
    assert not any(Path("/sys/fs/cgroup").glob("*/kubepods")) or NODE_BEFORE["kubepods_cgroups"]
