"""The inventory preflight rules (plugins/module_utils/checks/deployment.py)."""
import types

import pytest

from ansible_collections.dsa.platform.plugins.module_utils.checks import deployment

GROUPS = {"nodes": ["db1", "api1"], "postgresql": ["db1"], "iot_api": ["api1"], "observability": ["db1"]}
ADDRESSES = {"db1": "10.1.1.10", "api1": "10.1.2.11"}
URL = "http://10.1.2.11"

# The values the roles' defaults give a host in each group (what the play brings into scope).
API_VALUES = {"node_exporter_port": "9100", "iot_api_nginx_port": "80", "iot_api_metrics_port": "9180",
              "iot_api_base_port": "8001", "iot_api_instances": 2}
DB_VALUES = {"node_exporter_port": 9100, "postgresql_port": 5432, "postgresql_exporter_port": 9187,
             "postgresql_allowed_networks": ["10.1.2.0/24"], "observability_prometheus_listen": "0.0.0.0:9090"}


def test_a_good_host_deployment_has_no_problems():
    assert deployment.deployment_problems("host", GROUPS, ADDRESSES, URL) == []
    assert deployment.host_problems("host", "api1", ["nodes", "iot_api"], "10.1.2.11", API_VALUES) == []
    assert deployment.host_problems("host", "db1", ["nodes", "postgresql", "observability"], "10.1.1.10", DB_VALUES) == []


@pytest.mark.parametrize("platform, message", [
    (None, "dsa_platform: not set; use one of host, microk8s"),
    ("", "dsa_platform: not set; use one of host, microk8s"),
    ("swarm", "dsa_platform: swarm is not one of host, microk8s"),
])
def test_the_platform_must_be_a_shipped_one(platform, message):
    assert deployment.platform_problems(platform) == [message]


def test_every_problem_of_the_inventory_is_reported_together():
    groups = {"nodes": ["db1", "api1"], "postgresql": ["db1", "api1"], "iot_api": ["api9"],
              "observability": ["db1", "api1"]}
    problems = deployment.deployment_problems("host", groups, {"db1": "10.0.0.1", "api1": "10.0.0.1"}, "api:80")
    assert problems == [
        "groups.nodes: api9 is in group iot_api but not in nodes",
        "ansible_host: 10.0.0.1 is given to more than one node",
        "dsa_api_url: 'api:80' must start with http:// or https://",
        "dsa_api_url: 'api:80' has no host",
        "groups.postgresql: host mode runs exactly one PostgreSQL server; the inventory lists 2",
        "groups.observability: one Prometheus host is supported; the inventory lists 2",
    ]


def test_missing_groups_and_url_are_named():
    problems = deployment.deployment_problems("host", {}, {}, None)
    assert problems == [
        "groups.nodes: the inventory needs a nodes group with the machines to manage",
        "dsa_api_url: not set; the URL the load generator uses to reach the API",
        "groups.postgresql: host mode runs exactly one PostgreSQL server; the inventory lists 0",
        "groups.iot_api: at least one host must run the IoT API",
    ]


def test_host_only_group_rules_do_not_apply_to_other_platforms():
    groups = {"nodes": ["n1"]}
    assert deployment.deployment_problems("swarm", groups, {}, URL) == ["dsa_platform: swarm is not one of host, microk8s"]
    assert deployment.host_problems("swarm", "n1", ["nodes"], "n1.example", {}) == []


def test_an_address_of_a_host_outside_nodes_is_not_a_clash():
    assert deployment.node_problems({"nodes": ["a"]}, {"a": "10.0.0.1", "lb": "10.0.0.1"}) == []


def test_a_known_platform_not_shipped_is_refused(monkeypatch):
    monkeypatch.setattr(deployment, "AVAILABLE_PLATFORMS", ("host",))
    assert deployment.platform_problems("microk8s") == [
        "dsa_platform: microk8s is not available in this version of dsa.platform; use host"]


def test_microk8s_runs_the_cluster_checks_instead_of_the_host_rules(monkeypatch):
    seen = []

    def cluster_problems(groups, hostvars):
        seen.append((groups, hostvars))
        return ["groups.microk8s: needs an odd number of control-plane nodes; the inventory lists 2"]

    monkeypatch.setattr(deployment, "cluster_problems", cluster_problems)
    # no postgresql or iot_api group: host rules would complain, the cluster rules decide instead
    groups = {"nodes": ["n1"], "k8s_controller": ["localhost"]}
    problems = deployment.deployment_problems("microk8s", groups, {}, URL, hostvars={"n1": {}})
    assert problems == ["groups.microk8s: needs an odd number of control-plane nodes; the inventory lists 2"]
    assert seen == [(groups, {"n1": {}})]
    assert deployment.host_problems("microk8s", "n1", ["nodes", "iot_api"], "10.0.0.1", {}) == []


def test_cluster_problems_loads_the_microk8s_checks_module():
    loaded = []

    def load(name):
        loaded.append(name)
        return types.SimpleNamespace(inventory_problems=lambda groups, hostvars: iter(["x: bad"]))

    assert deployment.cluster_problems({}, {}, load=load) == ["x: bad"]
    assert loaded == ["ansible_collections.dsa.platform.plugins.module_utils.microk8s.checks"]


def test_ports_come_from_the_role_variables_given():
    ports = deployment.host_ports(["nodes", "iot_api"], dict(API_VALUES, iot_api_base_port=7000, iot_api_instances=3))
    assert ports == {"node_exporter_port": "9100", "iot_api_nginx_port": "80", "iot_api_metrics_port": "9180",
                     "iot_api_base_port..+iot_api_instances": [7000, 7001, 7002]}
    assert deployment.host_ports(["observability"], {"observability_prometheus_listen": "[::]:9091"}) == {
        "observability_prometheus_listen": "9091"}


def test_a_port_clash_on_one_host_names_both_variables():
    values = dict(API_VALUES, iot_api_nginx_port=8002)
    assert deployment.host_problems("host", "api1", ["nodes", "iot_api"], None, values) == [
        "iot_api_base_port..+iot_api_instances: port 8002 is already used by iot_api_nginx_port on api1"]
    values = dict(DB_VALUES, observability_prometheus_listen="0.0.0.0:9100")
    assert deployment.host_problems("host", "db1", ["nodes", "postgresql", "observability"], None, values) == [
        "observability_prometheus_listen: port 9100 is already used by node_exporter_port on db1"]


def test_bad_host_values_are_each_named():
    values = dict(API_VALUES, iot_api_instances="none", iot_api_base_port="eighty")
    problems = deployment.host_problems("host", "api1", ["nodes", "iot_api"], "10.1.2.300 ", values)
    assert problems == [
        "ansible_host (api1): '10.1.2.300 ' is neither an IP address nor a host name",
        "iot_api_instances: must be at least 1 on api1",
        "iot_api_base_port..+iot_api_instances: 'eighty' is not a port number (on api1)",
    ]
    values = dict(DB_VALUES, postgresql_allowed_networks=["10.1.2.7/24"])
    assert deployment.host_problems("host", "db1", ["postgresql"], None, values) == [
        "postgresql_allowed_networks[0]: '10.1.2.7/24' has host bits set; the network is 10.1.2.0/24"]


def test_an_undefined_role_variable_is_named_not_guessed():
    problems = deployment.host_problems("host", "db1", ["postgresql"], None, {"postgresql_port": 5432})
    assert problems == [
        "postgresql_exporter_port: not defined for db1 (the play must import the role that defines it)",
        "postgresql_allowed_networks: not defined for db1 (the play must import the role that defines it)",
    ]
    # the metrics port is optional: a role version without it has no such port
    values = {k: v for k, v in API_VALUES.items() if k != "iot_api_metrics_port"}
    assert deployment.host_problems("host", "api1", ["nodes", "iot_api"], None, values) == []


def test_host_variables_lists_what_each_group_needs():
    assert deployment.host_variables(["iot_api"]) == [
        "iot_api_nginx_port", "iot_api_metrics_port", "iot_api_base_port", "iot_api_instances", "iot_api_metrics_allowed"]
    assert deployment.host_variables(["ungrouped"]) == []


# Prometheus on db1 (10.1.1.10) scrapes api1 through nginx's metrics port, and every node exporter.
MONITOR = ("db1", "10.1.1.10")


def test_prometheus_elsewhere_must_be_admitted_by_the_metrics_allow_list():
    values = dict(API_VALUES, node_exporter_listen="0.0.0.0:9100",
                  iot_api_metrics_allowed=["127.0.0.1/32", "::1/128", "10.1.1.10/32"])
    assert deployment.host_problems("host", "api1", ["nodes", "iot_api"], "10.1.2.11", values, MONITOR) == []
    values["iot_api_metrics_allowed"] = ["127.0.0.1/32", "10.9.0.0/16"]
    assert deployment.host_problems("host", "api1", ["nodes", "iot_api"], "10.1.2.11", values, MONITOR) == [
        "iot_api_metrics_allowed: on api1 it does not admit 10.1.1.10 (Prometheus on db1), so every API instance "
        "would be down; add that address as a network"]


def test_prometheus_on_the_same_host_needs_loopback_admitted():
    values = dict(API_VALUES, iot_api_metrics_allowed=["10.1.1.0/24"])
    problems = deployment.host_problems("host", "api1", ["iot_api"], None, values, ("api1", "10.1.2.11"))
    assert problems == ["iot_api_metrics_allowed: on api1 it does not admit 127.0.0.1 (Prometheus on api1), so every "
                        "API instance would be down; add that address as a network"]


def test_a_loopback_node_exporter_is_unreachable_from_another_host_only():
    values = dict(API_VALUES, node_exporter_listen="127.0.0.1:9100")
    assert deployment.host_problems("host", "api1", ["nodes"], None, values, MONITOR) == [
        "node_exporter_listen: 127.0.0.1:9100 on api1 is loopback only, so Prometheus on db1 cannot scrape it; "
        "listen on an address it reaches"]
    assert deployment.host_problems("host", "db1", ["nodes"], None, dict(values, node_exporter_port=9100), MONITOR) == []
    assert deployment.host_problems("host", "api1", ["nodes"], None, dict(values, node_exporter_listen="[::1]:9100"),
                                    MONITOR)[0].startswith("node_exporter_listen: [::1]:9100 on api1 is loopback only")


def test_a_named_prometheus_host_is_checked_at_deploy_time_not_here():
    values = dict(API_VALUES, iot_api_metrics_allowed=["127.0.0.1/32"])
    assert deployment.host_problems("host", "api1", ["iot_api"], None, values, ("mon", "mon.campus.example")) == []
    assert deployment.host_problems("host", "api1", ["iot_api"], None, values, (None, None)) == []


# The orchestrated configuration's Kubernetes variables, as the platform role's defaults give them.
K8S_VALUES = {"dsa_k8s_kubeconfig": "/home/deploy/.dsa/kubeconfig-microk8s", "dsa_database_k8s_mode": "k8s_simple",
              "dsa_k8s_pod_security": "restricted", "dsa_k8s_database_namespace": "iot-data",
              "dsa_k8s_apps_namespace": "iot", "dsa_k8s_agent_namespace": "dsa-agent",
              "dsa_k8s_monitoring_namespace": "observability"}


def test_good_k8s_values_have_no_problems():
    assert deployment.k8s_problems("localhost", K8S_VALUES) == []
    assert deployment.k8s_problems("localhost", dict(K8S_VALUES, dsa_database_k8s_mode="k8s_operator",
                                                     dsa_k8s_pod_security="baseline")) == []


@pytest.mark.parametrize("controllers, listed", [([], "none"), (["localhost", "ops1"], "localhost, ops1")])
def test_microk8s_needs_exactly_one_k8s_controller(monkeypatch, controllers, listed):
    monkeypatch.setattr(deployment, "cluster_problems", lambda groups, hostvars: [])
    groups = {"nodes": ["n1"], "k8s_controller": controllers}
    assert deployment.deployment_problems("microk8s", groups, {}, URL) == [
        "groups.k8s_controller: the orchestrated configuration needs exactly one host that holds the kubeconfig "
        f"and applies the workloads (usually localhost); the inventory lists {listed}"]
    assert deployment.deployment_problems("microk8s", dict(groups, k8s_controller=["localhost"]), {}, URL) == []
    # host mode applies nothing to a cluster: no controller needed
    assert not any("k8s_controller" in p for p in deployment.deployment_problems("host", groups, {}, URL))


@pytest.mark.parametrize("name, bad, message", [
    ("dsa_k8s_kubeconfig", "", "dsa_k8s_kubeconfig: not set for localhost; the path of the kubeconfig the workloads "
     "are applied through (the one the microk8s role exports)"),
    ("dsa_k8s_kubeconfig", None, "dsa_k8s_kubeconfig: not set for localhost"),
    ("dsa_database_k8s_mode", "k8s_helm", "dsa_database_k8s_mode: 'k8s_helm' is not one of k8s_simple, k8s_operator"),
    ("dsa_database_k8s_mode", "host", "dsa_database_k8s_mode: 'host' is not one of"),
    ("dsa_k8s_pod_security", "strict", "dsa_k8s_pod_security: 'strict' is not a Pod Security level; use one of "
     "privileged, baseline, restricted"),
    ("dsa_k8s_pod_security", "Restricted", "dsa_k8s_pod_security: 'Restricted' is not a Pod Security level"),
    ("dsa_k8s_database_namespace", "iot_data", "dsa_k8s_database_namespace: 'iot_data' is not a valid namespace name"),
    ("dsa_k8s_apps_namespace", "IoT", "dsa_k8s_apps_namespace: 'IoT' is not a valid namespace name"),
    ("dsa_k8s_agent_namespace", "-agent", "dsa_k8s_agent_namespace: '-agent' is not a valid namespace name"),
    ("dsa_k8s_agent_namespace", "agent.dsa", "dsa_k8s_agent_namespace: 'agent.dsa' is not a valid namespace name"),
    ("dsa_k8s_monitoring_namespace", "o" * 64, "dsa_k8s_monitoring_namespace: '" + "o" * 64 + "' is not a valid"),
    ("dsa_k8s_monitoring_namespace", "", "dsa_k8s_monitoring_namespace: '' is not a valid namespace name"),
])
def test_a_bad_k8s_value_is_named(name, bad, message):
    problems = deployment.k8s_problems("localhost", dict(K8S_VALUES, **{name: bad}))
    assert len(problems) == 1 and problems[0].startswith(message), problems


def test_undefined_k8s_values_are_each_named():
    problems = deployment.k8s_problems("localhost", {})
    assert [p.split(":")[0] for p in problems] == list(deployment.K8S_VARIABLES)


def test_the_longest_namespace_name_is_accepted():
    assert deployment.k8s_problems("localhost", dict(K8S_VALUES, dsa_k8s_apps_namespace="a" * 63)) == []
