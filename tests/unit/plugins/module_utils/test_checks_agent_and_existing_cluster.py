"""Preflight rules for the agent's host group and for orchestrated inventories on an existing cluster."""
from ansible_collections.dsa.platform.plugins.module_utils.checks import deployment

GROUPS = {"nodes": ["db1", "api1"], "postgresql": ["db1"], "iot_api": ["api1"], "observability": ["db1"],
          "dsa_agent": ["db1"]}
URL = "http://10.1.2.11"
DB_VALUES = {"node_exporter_port": 9100, "postgresql_port": 5432, "postgresql_exporter_port": 9187,
             "postgresql_allowed_networks": ["10.1.2.0/24"], "observability_prometheus_listen": "0.0.0.0:9090",
             "dsa_agent_port": 8070, "dsa_agent_ui_port": 8501, "dsa_agent_nginx_port": 8090,
             "dsa_agent_nginx_ui_port": 8091}
DB_GROUPS = ["nodes", "postgresql", "observability", "dsa_agent"]


def test_an_agent_beside_prometheus_is_fine():
    assert deployment.deployment_problems("host", GROUPS, {}, URL) == []
    assert deployment.host_problems("host", "db1", DB_GROUPS, None, DB_VALUES) == []


def test_one_agent_host_only():
    problems = deployment.deployment_problems("host", dict(GROUPS, dsa_agent=["db1", "api1"]), {}, URL)
    assert problems == ["groups.dsa_agent: one agent host is supported; the inventory lists 2"]


def test_an_agent_host_must_be_a_node():
    problems = deployment.deployment_problems("host", dict(GROUPS, dsa_agent=["mon9"]), {}, URL)
    assert problems == ["groups.nodes: mon9 is in group dsa_agent but not in nodes"]


def test_the_agent_port_may_not_collide_with_prometheus():
    values = dict(DB_VALUES, dsa_agent_nginx_port=9090)
    problems = deployment.host_problems("host", "db1", DB_GROUPS, None, values)
    assert len(problems) == 1
    assert "9090" in problems[0] and "dsa_agent_nginx_port" in problems[0] and "observability_prometheus_listen" in problems[0]


EXISTING = {"k8s_controller": ["localhost"]}


def test_an_existing_cluster_needs_no_nodes_and_no_microk8s_hosts():
    assert deployment.deployment_problems("microk8s", EXISTING, {}, URL, k8s_cluster="existing") == []


def test_a_microk8s_cluster_still_needs_its_nodes():
    problems = deployment.deployment_problems("microk8s", EXISTING, {}, URL, k8s_cluster="microk8s")
    assert "groups.nodes: the inventory needs a nodes group with the machines to manage" in problems
    assert "groups.microk8s_control_plane: the cluster needs at least one control-plane host" in problems


def test_an_existing_cluster_still_needs_one_controller():
    problems = deployment.deployment_problems("microk8s", {}, {}, URL, k8s_cluster="existing")
    assert len(problems) == 1 and problems[0].startswith("groups.k8s_controller:")


def test_an_unknown_cluster_kind_is_named():
    problems = deployment.deployment_problems("microk8s", dict(EXISTING, nodes=["k1"], microk8s_control_plane=["k1"]),
                                              {}, URL, k8s_cluster="kind")
    assert "dsa_k8s_cluster: kind is not one of microk8s, existing" in problems
