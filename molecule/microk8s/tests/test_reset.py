"""SIMULATION: playbooks/microk8s_reset.yml against the stand-ins, after the cluster checks of
test_microk8s.py (pytest runs this file second; it takes the simulated cluster apart, so verify
runs once per converge). Refuses without the confirmation; with it, the workers leave one at a
time, the first node forgets them, then every node is reset and the snap removed with its data."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import testinfra

CP = "dsa-mol-mk8s-cp1"
WORKERS = ("dsa-mol-mk8s-w1", "dsa-mol-mk8s-w2")
PROJECT = Path(__file__).parents[3]
EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])


def reset(*extra):
    env = dict(os.environ, ANSIBLE_CONFIG=str(PROJECT / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
               ANSIBLE_COLLECTIONS_PATH=str(PROJECT / ".cache" / "collections"), ANSIBLE_ROLES_PATH=str(PROJECT / "roles"))
    result = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(EPHEMERAL / "inventory"),
         str(PROJECT / "playbooks" / "microk8s_reset.yml"), *extra],
        capture_output=True, text=True, env=env, timeout=600, check=False)
    return result.returncode, json.loads(result.stdout), result.stderr


def task(report, name):
    for play in report["plays"]:
        for entry in play["tasks"]:
            if entry["task"]["name"] == name:
                return entry["hosts"]
    raise AssertionError(f"no task {name!r} ran")


@pytest.fixture(scope="module")
def refused():
    return reset()


@pytest.fixture(scope="module")
def done(refused):
    return reset("-e", "microk8s_reset_confirm=reset")


def test_simulation_reset_refuses_without_confirmation(refused):
    rc, report, _ = refused
    assert rc != 0
    message = next(iter(task(report, "Refuse without the confirmation").values()))["msg"]
    assert "-e microk8s_reset_confirm=reset" in message
    assert testinfra.get_host(f"podman://{CP}").file("/snap/bin/microk8s").exists


def test_simulation_reset_leaves_forgets_resets_and_removes(done):
    rc, report, stderr = done
    assert rc == 0, stderr
    left = task(report, "Leave the cluster, one node at a time")
    assert all(left[w]["rc"] == 0 and left[w]["changed"] for w in WORKERS)
    assert left[CP].get("skipped")
    removed = task(report, "The first node forgets the nodes that left")[CP]["results"]
    assert [r["cmd"][2:] for r in removed] == [[w, "--force"] for w in WORKERS]
    assert all(r["rc"] == 0 for r in removed)
    # the first node's reset came after the others were gone, so MicroK8s did reset it
    assert "All addons are disabled." in task(report, "Reset to a fresh node, volumes included")[CP]["stdout"]
    for name in (CP, *WORKERS):
        host = testinfra.get_host(f"podman://{name}")
        assert host.run("snap list microk8s").rc == 1
        assert not host.file("/snap/bin/microk8s").exists
        assert not host.file("/var/snap/microk8s").exists
    assert not (EPHEMERAL / "credentials" / "kubeconfig-microk8s").exists()
