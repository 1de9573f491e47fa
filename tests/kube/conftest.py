"""Session fixtures that run a real localkube cluster (scripts/localkube) for the tests.

`localkube_api`  -> kubeconfig path of an `api` level cluster (etcd, kube-apiserver,
                    kube-controller-manager): server-side apply, admission, CRD schemas, RBAC.
`localkube_node` -> kubeconfig path of a `node` level cluster (adds scheduler, containerd, kubelet,
                    kube-proxy, bridge CNI): pods run.
Both build the binaries when the cache is missing (about 10 minutes cold, seconds warm) and take
the cluster down at the end of the session.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCALKUBE = ROOT / "scripts" / "localkube"
sys.path.insert(0, str(ROOT / "tools"))

# Overridable so that two test runs on one machine do not share (and tear down) one cluster.
API_NAME = os.environ.get("DSA_LOCALKUBE_TEST_API_NAME", "pytest-api")
NODE_NAME = os.environ.get("DSA_LOCALKUBE_TEST_NODE_NAME", "pytest-node")
# Cold builds take ~10 minutes on two idle cores; a loaded CI machine can double that.
UP_TIMEOUT = float(os.environ.get("DSA_LOCALKUBE_TEST_UP_TIMEOUT", 3600))


def pytest_configure(config):
    config.addinivalue_line("markers", "kube: runs a real localkube api-level cluster (etcd + kube-apiserver)")
    config.addinivalue_line("markers", "kube_node: runs a real localkube node (containerd, kubelet, pods); slow")


def pytest_collection_modifyitems(config, items):
    # test_down_leaves_no_leftovers takes the session's node down: every other node-level test
    # (e.g. test_workloads_node.py, which sorts after it) must run before it.
    last = [i for i in items if i.name == "test_down_leaves_no_leftovers"]
    items[:] = [i for i in items if i not in last] + last


def localkube(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(LOCALKUBE), *args], capture_output=True, text=True, timeout=timeout, check=False)


def _up(level: str, name: str) -> Path:
    proc = localkube("up", "--level", level, "--name", name, timeout=UP_TIMEOUT)
    if proc.returncode != 0:
        pytest.fail(f"localkube up --level {level} failed (rc {proc.returncode}):\n{proc.stderr[-4000:]}")
    path = Path(proc.stdout.strip().splitlines()[-1])
    assert path.is_file(), f"localkube up printed {path}, which is not a file"
    return path


def _down(name: str) -> None:
    proc = localkube("down", "--name", name, timeout=600)
    if proc.returncode != 0:
        pytest.fail(f"localkube down --name {name} failed:\n{proc.stderr[-4000:]}")


@pytest.fixture(scope="session")
def localkube_api():
    path = _up("api", API_NAME)
    yield path
    _down(API_NAME)


# What the machine looked like before the node came up: the leftovers test compares with it.
NODE_BEFORE: dict = {}


@pytest.fixture(scope="session")
def localkube_cli():
    """Run scripts/localkube with arguments; returns the CompletedProcess."""
    return localkube


@pytest.fixture(scope="session")
def localkube_node_before(localkube_node):
    """The machine's state (kernel settings, iptables chains, ...) just before the node started."""
    return NODE_BEFORE


@pytest.fixture(scope="session")
def localkube_node():
    from localkube import node
    # A cluster of this name left by an interrupted run still holds the kubelet's kernel settings:
    # take it down first (it restores what it found), so the snapshot is of the machine itself.
    _down(NODE_NAME)
    NODE_BEFORE.update(node.snapshot())
    path = _up("node", NODE_NAME)
    yield path
    _down(NODE_NAME)


# --- Helpers for tests that apply the collection's rendered workloads -----------------------------

# Zalando and Prometheus Operator CRDs, pinned upstream files read in place (never copied here).
from shared_paths import SHARED_CRDS  # noqa: E402  (tests/kube is on sys.path)


def _crd_documents():
    import yaml
    docs = []
    for path in sorted(SHARED_CRDS.glob("*.yaml")):
        docs.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return docs


def apply_shared_crds(kubeconfig, skip=(), timeout=60.0, field_manager="dsa-tests"):
    """Server-side apply the CRDs from ../shared/crds (except the names in `skip`) and wait until
    each is Established (a CR sent before that is refused). Returns the CRD names applied."""
    import time

    from kubernetes import config, dynamic

    docs = [doc for doc in _crd_documents() if doc["metadata"]["name"] not in set(skip)]
    client = dynamic.DynamicClient(config.new_client_from_config(config_file=str(kubeconfig)))
    crds = client.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
    for doc in docs:
        crds.server_side_apply(body=doc, name=doc["metadata"]["name"], field_manager=field_manager,
                               force_conflicts=True)
    pending = {doc["metadata"]["name"] for doc in docs}
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for name in sorted(pending):
            conditions = crds.get(name=name).to_dict().get("status", {}).get("conditions") or []
            if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
                pending.discard(name)
        if pending:
            time.sleep(0.5)
    if pending:
        pytest.fail(f"CRDs not Established within {timeout:.0f} s: {', '.join(sorted(pending))}")
    return [doc["metadata"]["name"] for doc in docs]


@pytest.fixture(scope="session")
def shared_crds():
    """apply_shared_crds(kubeconfig, skip=(), timeout=60): the ../shared/crds CRDs, Established."""
    if not SHARED_CRDS.is_dir():
        pytest.fail(f"{SHARED_CRDS} is missing: the pinned upstream CRDs are read from there")
    return apply_shared_crds


def ansible_playbook(*args, timeout=600.0, env=None, log=None):
    """Run ansible-playbook from the repository with the collection on its path (this checkout
    installed as dsa.platform under .cache/collections) and the repository's ansible.cfg.

    Returns the CompletedProcess; with `log` (a path) it starts in the background instead, output
    and errors going to that file, and returns the Popen (several renderings can overlap)."""
    run_env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"),
                   ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    run_env.update(env or {})
    binary = Path(sys.executable).with_name("ansible-playbook")
    command = [str(binary) if binary.exists() else "ansible-playbook", *args]
    if log is not None:
        with open(log, "w") as out:
            return subprocess.Popen(command, cwd=ROOT, env=run_env, stdout=out, stderr=subprocess.STDOUT, text=True)
    return subprocess.run(command, cwd=ROOT, env=run_env, capture_output=True, text=True, timeout=timeout,
                          check=False)


@pytest.fixture(scope="session")
def run_playbook():
    """ansible_playbook(*args, timeout=600, env=None, log=None) -> CompletedProcess (or Popen with
    log), run from the repository."""
    return ansible_playbook
