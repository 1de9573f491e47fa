"""The dsa.platform microk8s_* filters as a template calls them."""
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.dsa.platform.plugins.filter import microk8s
from ansible_collections.dsa.platform.plugins.filter.microk8s import FilterModule

FILTER_DIR = Path(microk8s.__file__).parent
CONFIG = (Path(__file__).parents[1] / "fixtures" / "microk8s" / "config.yaml").read_text()
TOKEN = "3f1c9a7be2d04c68a5b1e9f07d2c4a86"
INFO = {"addresses": ["10.89.72.11", "fd00::11"], "port": 25000, "fingerprint": "8c1d2e3f4a5b"}


def test_every_filter_has_its_doc_file():
    for name in FilterModule().filters():
        doc = yaml.safe_load((FILTER_DIR / f"{name}.yml").read_text())
        assert doc["DOCUMENTATION"]["name"] == name and doc["EXAMPLES"] and doc["RETURN"]


def test_node_roles():
    roles = microk8s.microk8s_node_roles({"microk8s_control_plane": ["a"], "microk8s_workers": ["b", "c"]})
    assert roles["first"] == "a" and [j["host"] for j in roles["joining"]] == ["b", "c"]
    with pytest.raises(AnsibleFilterError, match="microk8s_node_roles: groups.k8s_cp: the cluster needs"):
        microk8s.microk8s_node_roles({}, control_plane_group="k8s_cp")


def test_join_url():
    assert microk8s.microk8s_join_url(INFO, TOKEN) == f"10.89.72.11:25000/{TOKEN}/8c1d2e3f4a5b"
    assert microk8s.microk8s_join_url(INFO, TOKEN, "fd00::11") == f"[fd00::11]:25000/{TOKEN}/8c1d2e3f4a5b"
    with pytest.raises(AnsibleFilterError, match="expects the result of dsa.platform.microk8s_join_token"):
        microk8s.microk8s_join_url({"changed": True}, TOKEN)
    with pytest.raises(AnsibleFilterError, match="the token must be at least 32 characters"):
        microk8s.microk8s_join_url(INFO, "short")


def test_kubeconfig_server():
    out = yaml.safe_load(microk8s.microk8s_kubeconfig_server(CONFIG, "203.0.113.10"))
    assert out["clusters"][0]["cluster"]["server"] == "https://203.0.113.10:16443"
    assert out["users"][0]["user"]["client-key-data"] == "RkFLRS1DTElFTlQtS0VZLURBVEE="
    with pytest.raises(AnsibleFilterError, match="microk8s_kubeconfig_server: microk8s config printed no kubeconfig"):
        microk8s.microk8s_kubeconfig_server("acting as a node", "203.0.113.10")


def test_problem_filters():
    assert microk8s.microk8s_channel_problems("latest/edge") == []
    assert microk8s.microk8s_channel_problems("1.37", "my_channel")[0].startswith("my_channel: '1.37'")
    assert microk8s.microk8s_control_plane_problems(["a", "b"])[0].startswith("groups.microk8s_control_plane: 2")
    assert microk8s.microk8s_cidr_problems("10.1.0.0/16", "10.152.183.0/24", ["10.1.2.0/24"]) == [
        "microk8s_pod_cidr: 10.1.0.0/16 overlaps the node network 10.1.2.0/24 (microk8s_node_networks[0]); "
        "choose a range the nodes do not use"]


def test_snap_info_and_nodes():
    fixtures = Path(__file__).parents[1] / "fixtures" / "microk8s"
    assert microk8s.microk8s_snap_info((fixtures / "snap_list.txt").read_text())["tracking"] == "1.37/stable"
    assert microk8s.microk8s_snap_info((fixtures / "snap_list_missing.txt").read_text()) is None
    assert microk8s.microk8s_nodes((fixtures / "nodes.json").read_text()) == {"cp1": True, "w1": False}
    with pytest.raises(AnsibleFilterError, match="microk8s_nodes: kubectl get nodes -o json did not print JSON"):
        microk8s.microk8s_nodes("error: the server doesn't have a resource type")


def test_dns_address_is_the_tenth_service_address():
    assert microk8s.microk8s_dns_address("10.152.183.0/24") == "10.152.183.10"
    assert microk8s.microk8s_dns_address("fd99::/108") == "fd99::a"
    with pytest.raises(AnsibleFilterError, match="microk8s_service_cidr: '10.0.0.0/30' has no 10th address"):
        microk8s.microk8s_dns_address("10.0.0.0/30")
