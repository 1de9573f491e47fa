"""Parsers of the MicroK8s and snap outputs, on recorded outputs in MicroK8s' own formats
(tests/unit/plugins/fixtures/microk8s/README.md says where each format comes from)."""
import json
from pathlib import Path

import pytest
import yaml

from ansible_collections.dsa.platform.plugins.module_utils.microk8s import cli, kubeconfig
from ansible_collections.dsa.platform.plugins.module_utils.microk8s.cli import Microk8sError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "microk8s"
TOKEN = "3f1c9a7be2d04c68a5b1e9f07d2c4a86"


def fixture(name):
    return (FIXTURES / name).read_text(encoding="utf-8")


def test_status_of_a_ready_ha_control_plane():
    status = cli.parse_status_yaml(fixture("status_ha_ready.yaml"))
    assert status["running"] is True and status["ha_enabled"] is True
    assert [n["address"] for n in status["ha_nodes"]] == ["10.89.72.11:19001", "10.89.72.12:19001", "10.89.72.13:19001"]
    assert {n["role"] for n in status["ha_nodes"]} == {"voter"}
    assert status["addons"]["core/dns"]["status"] == "enabled"
    assert status["addons"]["core/ingress"]["status"] == "disabled"
    # The same name in two repositories stays two add-ons.
    assert status["addons"]["community/dashboard"]["repository"] == "community"
    assert len(status["addons"]) == 13


def test_status_of_a_node_that_is_not_running_keeps_the_message():
    status = cli.parse_status_yaml(fixture("status_not_running.yaml"))
    assert status["running"] is False and status["addons"] == {}
    assert status["message"].startswith("microk8s is not running. Use microk8s inspect")


def test_status_on_a_worker_says_so():
    with pytest.raises(Microk8sError, match="this node is a worker"):
        cli.parse_status_yaml(fixture("status_worker.txt"))


def test_status_of_stopped_services():
    status = cli.parse_status_yaml("microk8s is not running, try microk8s start\n")
    assert status["running"] is False and "microk8s start" in status["message"]


@pytest.mark.parametrize("text, match", [
    ("", "printed nothing"),
    ("microk8s: [1, 2\n", "is not YAML"),
    ("addons: []\n", "no 'microk8s' section"),
    ("microk8s:\n  running: maybe\n", "must be true or false"),
    ("microk8s:\n  running: True\naddons:\n  - name: dns\n    status: broken\n", "unreadable add-on entry"),
])
def test_status_garbage_is_a_clear_error(text, match):
    with pytest.raises(Microk8sError, match=match):
        cli.parse_status_yaml(text)


def test_find_addon_by_name_or_repository():
    addons = cli.parse_status_yaml(fixture("status_ha_ready.yaml"))["addons"]
    assert cli.find_addon(addons, "dns") == "core/dns"
    assert cli.find_addon(addons, "community/dashboard") == "community/dashboard"
    with pytest.raises(Microk8sError, match=r"dashboard is in more than one repository \(community/dashboard, core/dashboard\)"):
        cli.find_addon(addons, "dashboard")
    with pytest.raises(Microk8sError, match="add-on linkerd is not available on this cluster .known: .*dns"):
        cli.find_addon(addons, "linkerd")
    with pytest.raises(Microk8sError, match="add-on core/linkerd is not available"):
        cli.find_addon(addons, "core/linkerd")


def test_commands_use_the_full_path_and_one_addon_each():
    assert cli.status_command() == ["/snap/bin/microk8s", "status", "--format", "yaml"]
    assert cli.status_command(wait_timeout=60)[-3:] == ["--wait-ready", "--timeout", "60"]
    assert cli.xable_command("enable", "core/dns", ["10.0.0.53"]) == ["/snap/bin/microk8s", "enable", "core/dns", "10.0.0.53"]
    assert cli.add_node_command(TOKEN, 600) == ["/snap/bin/microk8s", "add-node", "--token", TOKEN, "--token-ttl", "600", "--format", "json"]
    assert cli.join_command("10.0.0.1:25000/x/y", worker=True) == ["/snap/bin/microk8s", "join", "10.0.0.1:25000/x/y", "--worker"]
    assert cli.join_command("10.0.0.1:25000/x/y") == ["/snap/bin/microk8s", "join", "10.0.0.1:25000/x/y"]


def test_add_node_json_gives_addresses_port_and_fingerprint_but_no_token():
    info = cli.parse_add_node_json(fixture("add_node.json"), TOKEN)
    assert info == {"addresses": ["10.89.72.11", "172.17.0.1", "fd00:89:72::11"], "port": 25000, "fingerprint": "8c1d2e3f4a5b"}
    assert TOKEN not in json.dumps(info)


def test_add_node_json_for_another_token_is_refused():
    with pytest.raises(Microk8sError, match="different token"):
        cli.parse_add_node_json(fixture("add_node.json"), "0" * 32)


@pytest.mark.parametrize("text, match", [
    ("Invalid token size.  It must be 32 characters long.", "did not print JSON"),
    ('{"token": "x"}', "expected keys"),
    (json.dumps({"token": f"{TOKEN}/abc", "urls": ["10.0.0.1/other/abc"]}), "not of the form"),
    (json.dumps({"token": f"{TOKEN}/abc", "urls": [f"10.0.0.1:port/{TOKEN}/abc"]}), "no port number"),
    (json.dumps({"token": f"{TOKEN}/abc", "urls": [f"none:25000/{TOKEN}/abc"]}), "no join URL"),
])
def test_add_node_garbage(text, match):
    with pytest.raises(Microk8sError, match=match):
        cli.parse_add_node_json(text, TOKEN)


def test_join_url_brackets_ipv6():
    assert cli.join_url("10.0.0.1", 25000, TOKEN, "abc") == f"10.0.0.1:25000/{TOKEN}/abc"
    assert cli.join_url("fd00::1", 25000, TOKEN) == f"[fd00::1]:25000/{TOKEN}"


@pytest.mark.parametrize("token, ok", [(TOKEN, True), ("a" * 31, False), ("a" * 31 + "-", False), (None, False), ("A1" * 20, True)])
def test_token_rules(token, ok):
    assert (cli.token_problem(token) is None) is ok


def test_snap_list():
    row = cli.parse_snap_list(fixture("snap_list.txt"))
    assert row == {"name": "microk8s", "version": "v1.37.2", "revision": "8412", "tracking": "1.37/stable",
                   "notes": ["classic", "held"]}
    assert cli.parse_snap_list(fixture("snap_list_missing.txt")) is None
    assert cli.parse_snap_list(fixture("snap_list.txt"), name="lxd") is None


def test_nodes_json_reports_readiness_per_node():
    assert cli.parse_nodes_json(fixture("nodes.json")) == {"cp1": True, "w1": False}
    with pytest.raises(Microk8sError, match="did not print JSON"):
        cli.parse_nodes_json("The connection to the server was refused")


def test_kubeconfig_server_rewritten_and_nothing_else():
    text = fixture("config.yaml")
    out = yaml.safe_load(kubeconfig.rewrite_server(text, kubeconfig.api_server_url("cp.example.org")))
    original = yaml.safe_load(text)
    assert out["clusters"][0]["cluster"]["server"] == "https://cp.example.org:16443"
    original["clusters"][0]["cluster"]["server"] = "https://cp.example.org:16443"
    assert out == original
    assert kubeconfig.api_server_url("fd00::1", 6443) == "https://[fd00::1]:6443"


def test_kubeconfig_from_a_worker_is_refused():
    message = "This MicroK8s deployment is acting as a node in a cluster. Please use the microk8s config on the master."
    with pytest.raises(Microk8sError, match="no kubeconfig with clusters"):
        kubeconfig.rewrite_server(message, "https://10.0.0.1:16443")
    with pytest.raises(Microk8sError, match="must start with https://"):
        kubeconfig.rewrite_server(fixture("config.yaml"), "10.0.0.1:16443")


@pytest.mark.parametrize("name", ["status_ha_ready.yaml", "status_single.yaml", "status_not_running.yaml"])
def test_nodes_without_pyyaml_read_status_the_same(monkeypatch, name):
    """A node's Python may lack PyYAML; the built-in reader of MicroK8s' layout gives the same result."""
    text = fixture(name)
    assert cli._status_layout(text) == yaml.safe_load(text)
    with_yaml = cli.parse_status_yaml(text)
    monkeypatch.setattr(cli, "HAS_YAML", False)
    assert cli.parse_status_yaml(text) == with_yaml


@pytest.mark.parametrize("text", ["microk8s:\n  running True\n", "microk8s:\n\trunning: True\n", "microk8s:\n  running:True\n"])
def test_built_in_reader_refuses_other_layouts(monkeypatch, text):
    monkeypatch.setattr(cli, "HAS_YAML", False)
    with pytest.raises(Microk8sError, match="is not YAML"):
        cli.parse_status_yaml(text)
