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
    NODE_BEFORE.update(node.snapshot())
    path = _up("node", NODE_NAME)
    yield path
    _down(NODE_NAME)
