"""The validate_inventory action plugin: it templates the values it reads (role defaults that
derive from platform variables), runs the whole-inventory checks on the play's first host only,
and fails with every problem listed. A real TemplateEngine; no host is contacted."""
from unittest import mock

from ansible.parsing.dataloader import DataLoader
from ansible.playbook.task import Task
from ansible.template import Templar, trust_as_template

from ansible_collections.dsa.platform.plugins.action.validate_inventory import ActionModule

GROUPS = {"all": ["db1", "api1"], "nodes": ["db1", "api1"], "postgresql": ["db1"], "iot_api": ["api1"],
          "observability": ["db1"]}


def _run(host, extra=None, hostvars=None):
    task_vars = {
        "inventory_hostname": host,
        "ansible_play_hosts_all": ["db1", "api1"],
        "groups": GROUPS,
        "group_names": [g for g, members in GROUPS.items() if host in members and g != "all"],
        "hostvars": hostvars if hostvars is not None else {"db1": {"ansible_host": "10.1.1.10"},
                                                           "api1": {"ansible_host": "10.1.2.11"}},
        # what the imported roles contribute: platform variables and role defaults derived from them
        "dsa_platform": "host",
        "dsa_api_port": 8001,
        "dsa_api_http_port": 80,
        "dsa_api_url": "http://{{ hostvars['api1']['ansible_host'] }}",
        "node_exporter_port": 9100,
        "iot_api_base_port": "{{ dsa_api_port }}",
        "iot_api_nginx_port": "{{ dsa_api_http_port }}",
        "iot_api_instances": 2,
        "postgresql_port": 5432,
        "postgresql_exporter_port": 9187,
        "postgresql_allowed_networks": ["10.1.2.0/24"],
        "observability_prometheus_listen": "0.0.0.0:9090",
    }
    task_vars.update(extra or {})
    # Inventory and role files are trusted template sources; plain test strings must be marked so.
    task_vars = {k: trust_as_template(v) if isinstance(v, str) else v for k, v in task_vars.items()}
    task = Task.load({"action": "dsa.platform.validate_inventory"})
    task.args = {}
    action = ActionModule(task, mock.MagicMock(), mock.MagicMock(), loader=DataLoader(),
                          templar=Templar(loader=DataLoader(), variables=task_vars), shared_loader_obj=None)
    return action.run(task_vars=task_vars)


def test_a_good_inventory_passes_on_every_host():
    for host in ("db1", "api1"):
        result = _run(host)
        assert not result.get("failed"), result
        assert result["problems"] == [] and result["changed"] is False


def test_role_defaults_are_templated_before_checking():
    result = _run("api1", {"dsa_api_http_port": 8002})
    assert result["failed"]
    assert result["msg"] == ["iot_api_base_port..+iot_api_instances: port 8002 is already used by iot_api_nginx_port on api1"]


def test_inventory_wide_problems_are_reported_by_the_first_host_only():
    extra = {"dsa_api_url": "ftp://x"}
    assert "dsa_api_url: 'ftp://x' must start with http:// or https://" in _run("db1", extra)["msg"]
    assert not _run("api1", extra).get("failed")


def test_duplicate_addresses_are_read_from_hostvars():
    result = _run("db1", hostvars={"db1": {"ansible_host": "10.1.1.10"}, "api1": {"ansible_host": "10.1.1.10"}})
    assert result["msg"] == ["ansible_host: 10.1.1.10 is given to more than one node"]


def test_an_unresolvable_value_is_a_named_problem_not_a_crash():
    result = _run("api1", {"iot_api_instances": "{{ nowhere_defined }}"})
    assert result["failed"]
    assert any(p.startswith("iot_api_instances: cannot be resolved for api1") for p in result["msg"]), result["msg"]


def test_a_platform_not_shipped_is_refused(monkeypatch):
    from ansible_collections.dsa.platform.plugins.module_utils.checks import deployment
    monkeypatch.setattr(deployment, "AVAILABLE_PLATFORMS", ("host",))
    result = _run("db1", {"dsa_platform": "microk8s"})
    assert result["msg"] == ["dsa_platform: microk8s is not available in this version of dsa.platform; use host"]


def _run_k8s(host, extra=None, groups=None):
    """An orchestrated inventory: three cluster nodes, localhost applies the workloads."""
    groups = groups or {"all": ["k1", "k2", "k3", "localhost"], "nodes": ["k1", "k2", "k3"],
                        "microk8s_control_plane": ["k1", "k2", "k3"], "k8s_controller": ["localhost"]}
    hostvars = {h: {"ansible_host": f"10.40.5.1{i}"} for i, h in enumerate(["k1", "k2", "k3"], 1)}
    hostvars["localhost"] = {"ansible_connection": "local"}
    task_vars = {
        "inventory_hostname": host,
        "ansible_play_hosts_all": ["k1", "k2", "k3", "localhost"],
        "groups": groups,
        "group_names": [g for g, members in groups.items() if host in members and g != "all"],
        "hostvars": hostvars,
        "dsa_platform": "microk8s",
        "dsa_api_url": "http://10.40.5.11",
        # the platform role's defaults, derived values included
        "dsa_credentials_dir": "/home/deploy/.dsa",
        "dsa_k8s_kubeconfig": "{{ dsa_credentials_dir }}/kubeconfig-microk8s",
        "dsa_database_k8s_mode": "k8s_simple",
        "dsa_k8s_pod_security": "restricted",
        "dsa_k8s_database_namespace": "iot-data",
        "dsa_k8s_apps_namespace": "iot",
        "dsa_k8s_agent_namespace": "dsa-agent",
        "dsa_k8s_monitoring_namespace": "observability",
    }
    task_vars.update(extra or {})
    task_vars = {k: trust_as_template(v) if isinstance(v, str) else v for k, v in task_vars.items()}
    task = Task.load({"action": "dsa.platform.validate_inventory"})
    task.args = {}
    action = ActionModule(task, mock.MagicMock(), mock.MagicMock(), loader=DataLoader(),
                          templar=Templar(loader=DataLoader(), variables=task_vars), shared_loader_obj=None)
    return action.run(task_vars=task_vars)


def test_a_good_orchestrated_inventory_passes_on_every_host():
    for host in ("k1", "k2", "k3", "localhost"):
        result = _run_k8s(host)
        assert not result.get("failed"), result


def test_the_k8s_values_are_checked_on_the_controller_only():
    extra = {"dsa_k8s_pod_security": "strict", "dsa_k8s_apps_namespace": "{{ 'IoT' }}", "dsa_k8s_kubeconfig": ""}
    result = _run_k8s("localhost", extra)
    assert result["failed"]
    assert result["msg"] == [
        "dsa_k8s_kubeconfig: not set for localhost; the path of the kubeconfig the workloads are applied through "
        "(the one the microk8s role exports)",
        "dsa_k8s_pod_security: 'strict' is not a Pod Security level; use one of privileged, baseline, restricted",
        "dsa_k8s_apps_namespace: 'IoT' is not a valid namespace name (a DNS-1123 label: at most 63 lower-case "
        "letters, digits and '-', starting and ending with a letter or digit)",
    ]
    assert not _run_k8s("k2", extra).get("failed")


def test_an_orchestrated_inventory_without_a_controller_is_named_by_the_first_host():
    groups = {"all": ["k1", "k2", "k3"], "nodes": ["k1", "k2", "k3"], "microk8s_control_plane": ["k1", "k2", "k3"],
              "k8s_controller": []}
    result = _run_k8s("k1", groups=groups)
    assert result["failed"]
    assert result["msg"] == [
        "groups.k8s_controller: the orchestrated configuration needs exactly one host that holds the kubeconfig and "
        "applies the workloads (usually localhost); the inventory lists none"]


def test_a_bad_database_mode_is_refused_on_the_controller():
    result = _run_k8s("localhost", {"dsa_database_k8s_mode": "k8s_helm"})
    assert result["msg"] == ["dsa_database_k8s_mode: 'k8s_helm' is not one of k8s_simple, k8s_operator"]
