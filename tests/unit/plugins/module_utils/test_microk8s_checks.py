"""Inventory checks for a MicroK8s cluster (plugins/module_utils/microk8s/checks.py) and node roles."""
from pathlib import Path

import pytest
import yaml

from ansible_collections.dsa.platform.plugins.module_utils.checks import deployment
from ansible_collections.dsa.platform.plugins.module_utils.microk8s import checks, nodes

ROLE_DEFAULTS = Path(__file__).parents[4] / "roles" / "microk8s" / "defaults" / "main.yml"


def test_defaults_used_for_unset_variables_are_the_roles():
    defaults = yaml.safe_load(ROLE_DEFAULTS.read_text())
    assert {name: defaults[name] for name in checks.DEFAULTS} == checks.DEFAULTS


@pytest.mark.parametrize("channel", ["1.37/stable", "1.37/candidate", "1.30/edge", "latest/stable", "latest/beta", "2.0/stable"])
def test_good_channels(channel):
    assert checks.channel_problems(channel) == []


@pytest.mark.parametrize("channel", ["1.37", "stable", "1.37/Stable", "1.37/stable/hotfix", "v1.37/stable", "1.37.2/stable",
                                     "latest", "1/stable", "", None, 1.37, " 1.37/stable"])
def test_bad_channels_name_the_variable(channel):
    problems = checks.channel_problems(channel)
    assert len(problems) == 1 and problems[0].startswith(f"microk8s_channel: {channel!r} is not a snap channel")


@pytest.mark.parametrize("count, ok", [(0, False), (1, True), (2, False), (3, True), (4, False), (5, True)])
def test_control_plane_count(count, ok):
    problems = checks.control_plane_count_problems([f"cp{i}" for i in range(count)])
    assert (problems == []) is ok
    if not ok:
        assert problems[0].startswith("groups.microk8s_control_plane: ")
    if count == 2:
        assert "HA needs an odd number" in problems[0]


def test_cidrs_fine():
    assert checks.cidr_problems("10.1.0.0/16", "10.152.183.0/24", ["192.168.10.0/24", "192.168.10.5"]) == []
    # different address families never overlap
    assert checks.cidr_problems("fd02::/64", "10.152.183.0/24", ["10.0.0.0/8"]) == [
        "microk8s_service_cidr: 10.152.183.0/24 overlaps the node network 10.0.0.0/8 (microk8s_node_networks[0]); "
        "choose a range the nodes do not use"]


def test_cidrs_invalid_are_named():
    problems = checks.cidr_problems("10.1.0.1/16", "services", [])
    assert problems == ["microk8s_pod_cidr: '10.1.0.1/16' has host bits set; the network is 10.1.0.0/16",
                        "microk8s_service_cidr: 'services' needs a prefix length, e.g. 192.0.2.7/32 for one host"]


def test_cidrs_overlapping_each_other():
    assert checks.cidr_problems("10.0.0.0/8", "10.152.183.0/24") == [
        "microk8s_service_cidr: 10.152.183.0/24 overlaps microk8s_pod_cidr 10.0.0.0/8; pods and services need separate ranges"]


def test_cidrs_overlapping_a_node_address_name_the_host():
    problems = checks.cidr_problems("10.1.0.0/16", "10.152.183.0/24", [("ansible_host (cp2)", "10.1.4.7"), ("x", "not-an-ip")])
    assert problems == [
        "microk8s_pod_cidr: 10.1.0.0/16 overlaps the node network 10.1.4.7 (ansible_host (cp2)); choose a range the nodes do not use",
        "x: 'not-an-ip' is not a network or an address"]


def test_node_roles_and_join_order():
    roles = nodes.node_roles({"microk8s_control_plane": ["cp1", "cp2", "cp3"], "microk8s_workers": ["w1", "w2"]})
    assert roles["first"] == "cp1"
    assert roles["joining"] == [{"host": "cp2", "worker": False}, {"host": "cp3", "worker": False},
                                {"host": "w1", "worker": True}, {"host": "w2", "worker": True}]
    assert roles["all"] == ["cp1", "cp2", "cp3", "w1", "w2"]
    single = nodes.node_roles({"microk8s_control_plane": ["cp1"]})
    assert single["joining"] == [] and single["workers"] == []


def test_node_roles_errors_name_the_group():
    with pytest.raises(nodes.NodeRoleError, match="groups.microk8s_control_plane: the cluster needs at least one"):
        nodes.node_roles({"microk8s_workers": ["w1"]})
    with pytest.raises(nodes.NodeRoleError, match="groups.microk8s_workers: cp2 also in microk8s_control_plane"):
        nodes.node_roles({"microk8s_control_plane": ["cp1", "cp2", "cp3"], "microk8s_workers": ["cp2"]})


def test_missing_nodes_keeps_order():
    assert nodes.missing_nodes(["cp1", "cp2", "w1"], ["w1", "cp1"]) == ["cp2"]


class Vars(dict):
    """hostvars[host] as Ansible hands it: a mapping that may fail to template a value."""

    def __getitem__(self, key):
        value = super().__getitem__(key)
        if value == "BROKEN":
            raise ValueError("'undefined_var' is undefined")
        return value


def inventory(**first):
    groups = {"nodes": ["cp1", "cp2", "cp3", "w1"], "microk8s_control_plane": ["cp1", "cp2", "cp3"], "microk8s_workers": ["w1"]}
    hostvars = {host: Vars(ansible_host=f"192.168.50.{i + 1}") for i, host in enumerate(groups["nodes"])}
    hostvars["cp1"].update(first)
    return groups, hostvars


def test_inventory_with_defaults_is_fine():
    groups, hostvars = inventory()
    assert checks.inventory_problems(groups, hostvars) == []


def test_inventory_problems_together():
    groups, hostvars = inventory(microk8s_channel="1.37", microk8s_pod_cidr="192.168.0.0/16")
    groups["microk8s_control_plane"] = ["cp1", "cp2"]
    groups["microk8s_workers"] = ["w1", "cp3", "extra"]
    problems = checks.inventory_problems(groups, hostvars)
    assert "groups.nodes: extra is in group microk8s_workers but not in nodes" in problems
    assert any(p.startswith("groups.microk8s_control_plane: 2 control-plane hosts; HA needs an odd number") for p in problems)
    assert any(p.startswith("microk8s_channel: '1.37' is not a snap channel") for p in problems)
    assert ("microk8s_pod_cidr: 192.168.0.0/16 overlaps the node network 192.168.50.1 (ansible_host (cp1)); "
            "choose a range the nodes do not use") in problems


def test_inventory_channel_must_agree_across_nodes():
    groups, hostvars = inventory()
    hostvars["w1"]["microk8s_channel"] = "1.36/stable"
    assert checks.inventory_problems(groups, hostvars) == [
        "microk8s_channel: w1 has 1.36/stable but cp1 has 1.37/stable; every node of a cluster runs the same channel"]


def test_inventory_node_networks_and_unresolvable_values():
    groups, hostvars = inventory(microk8s_node_networks=["10.152.0.0/16"], microk8s_pod_cidr="BROKEN")
    problems = checks.inventory_problems(groups, hostvars)
    assert problems[0] == "microk8s_pod_cidr: cannot be resolved for cp1: 'undefined_var' is undefined"
    assert ("microk8s_service_cidr: 10.152.183.0/24 overlaps the node network 10.152.0.0/16 "
            "(microk8s_node_networks[0]); choose a range the nodes do not use") in problems


def test_inventory_without_control_plane():
    assert checks.inventory_problems({"nodes": ["a"]}, {}) == [
        "groups.microk8s_control_plane: the cluster needs at least one control-plane host"]


def test_validate_playbook_finds_these_checks():
    """deployment.py imports this module by name in microk8s mode; the name and signature must hold."""
    groups, hostvars = inventory(microk8s_channel="edge")
    assert deployment.cluster_problems(groups, hostvars) == checks.inventory_problems(groups, hostvars)
    assert deployment.cluster_problems(groups, hostvars)[0].startswith("microk8s_channel: 'edge'")
