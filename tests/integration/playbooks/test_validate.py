"""playbooks/validate.yml refuses bad inventories with a message that names the problem,
and accepts every inventory the project ships. Runs the real ansible-playbook (no host contact:
--tags inventory)."""
import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[3]
PLAYBOOK = ROOT / "playbooks" / "validate.yml"

GOOD = {
    "all": {
        "vars": {
            "dsa_platform": "host",
            "dsa_api_url": "http://10.1.2.11",
            "postgresql_allowed_networks": ["10.1.2.0/24"],
        },
        "children": {
            "nodes": {"hosts": {"db1": {"ansible_host": "10.1.1.10"}, "api1": {"ansible_host": "10.1.2.11"}}},
            "postgresql": {"hosts": {"db1": {}}},
            "iot_api": {"hosts": {"api1": {}}},
            "observability": {"hosts": {"db1": {}}},
        },
    }
}


def _validate(inventory_path):
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    return subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory_path), str(PLAYBOOK), "--tags", "inventory"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )


def _mutated(change):
    inventory = copy.deepcopy(GOOD)
    change(inventory["all"])
    return inventory


def _set(path, value):
    def change(node):
        *parents, last = path
        for key in parents:
            node = node[key]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value
    return change


_DELETE = object()

BAD = {
    "platform empty": (_set(["vars", "dsa_platform"], ""), "dsa_platform: not set"),
    "platform unknown": (_set(["vars", "dsa_platform"], "swarm"), "dsa_platform: swarm is not one of host, microk8s"),
    "two databases": (
        _set(["children", "postgresql", "hosts"], {"db1": {}, "api1": {}}),
        "groups.postgresql: host mode runs exactly one PostgreSQL server; the inventory lists 2",
    ),
    "no api hosts": (_set(["children", "iot_api", "hosts"], {}), "groups.iot_api: at least one host must run the IoT API"),
    "api host outside nodes": (
        _set(["children", "iot_api", "hosts"], {"api1": {}, "api9": {}}),
        "groups.nodes: api9 is in group iot_api but not in nodes",
    ),
    "bad network": (
        _set(["vars", "postgresql_allowed_networks"], ["10.1.2.0/24", "10.1.2.7/24"]),
        "postgresql_allowed_networks[1]: '10.1.2.7/24' has host bits set; the network is 10.1.2.0/24",
    ),
    "bad api url": (_set(["vars", "dsa_api_url"], "10.1.2.11:80"), "dsa_api_url: '10.1.2.11:80' must start with http://"),
    "duplicate address": (
        _set(["children", "nodes", "hosts", "api1", "ansible_host"], "10.1.1.10"),
        "ansible_host: 10.1.1.10 is given to more than one node",
    ),
    "bad address": (
        _set(["children", "nodes", "hosts", "api1", "ansible_host"], "10.1.2.300 "),
        "neither an IP address nor a host name",
    ),
    "port clash": (
        _set(["vars", "iot_api_nginx_port"], 8002),
        "port 8002 is already used by",
    ),
    # Prometheus on db1 (10.1.1.10) must be able to scrape the API host and every node exporter.
    "metrics allow list leaves Prometheus out": (
        _set(["vars", "iot_api_metrics_allowed"], ["127.0.0.1/32", "10.1.2.0/24"]),
        "iot_api_metrics_allowed: on api1 it does not admit 10.1.1.10 (Prometheus on db1)",
    ),
    "node exporter on loopback": (
        _set(["vars", "node_exporter_listen"], "127.0.0.1:9100"),
        "node_exporter_listen: 127.0.0.1:9100 on api1 is loopback only, so Prometheus on db1 cannot scrape it",
    ),
}


@pytest.mark.integration
@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_inventory_is_refused_naming_the_problem(case, tmp_path):
    change, expected = BAD[case]
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(_mutated(change)))
    result = _validate(path)
    assert result.returncode != 0, result.stdout
    assert expected in result.stdout, result.stdout[-3000:]


# The orchestrated configuration: three control-plane nodes and a worker on 10.20.5.0/24 (clear of
# the role's default pod and service CIDRs).
GOOD_MICROK8S = {
    "all": {
        "vars": {"dsa_platform": "microk8s", "dsa_api_url": "http://10.20.5.11", "microk8s_node_networks": ["10.20.5.0/24"]},
        "children": {
            "nodes": {"children": {
                "microk8s_control_plane": {"hosts": {f"cp{i}": {"ansible_host": f"10.20.5.1{i}"} for i in (1, 2, 3)}},
                "microk8s_workers": {"hosts": {"w1": {"ansible_host": "10.20.5.21"}}},
            }},
            # The machine holding the kubeconfig, which applies the workloads.
            "k8s_controller": {"hosts": {"localhost": {"ansible_connection": "local"}}},
        },
    }
}

BAD_MICROK8S = {
    "even control plane": (
        lambda inv: inv["children"]["nodes"]["children"]["microk8s_control_plane"]["hosts"].pop("cp3"),
        "groups.microk8s_control_plane: 2 control-plane hosts; HA needs an odd number",
    ),
    "channel format": (_set(["vars", "microk8s_channel"], "1.37-stable"), "microk8s_channel: '1.37-stable' is not a snap channel"),
    "pod and service CIDRs overlap": (
        _set(["vars", "microk8s_service_cidr"], "10.1.0.0/24"),
        "microk8s_service_cidr: 10.1.0.0/24 overlaps microk8s_pod_cidr 10.1.0.0/16",
    ),
    "pod CIDR on the node network": (
        _set(["vars", "microk8s_pod_cidr"], "10.20.0.0/16"),
        "microk8s_pod_cidr: 10.20.0.0/16 overlaps the node network 10.20.5.0/24",
    ),
    "invalid service CIDR": (_set(["vars", "microk8s_service_cidr"], "10.152.183.300/24"), "microk8s_service_cidr: "),
}


@pytest.mark.integration
@pytest.mark.parametrize("case", sorted(BAD_MICROK8S))
def test_bad_cluster_inventory_is_refused_naming_the_variable(case, tmp_path):
    change, expected = BAD_MICROK8S[case]
    inventory = copy.deepcopy(GOOD_MICROK8S)
    change(inventory["all"])
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory))
    result = _validate(path)
    assert result.returncode != 0, result.stdout
    assert expected in result.stdout, result.stdout[-3000:]


@pytest.mark.integration
def test_the_good_cluster_inventory_passes(tmp_path):
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(GOOD_MICROK8S))
    result = _validate(path)
    assert result.returncode == 0, result.stdout[-3000:]


@pytest.mark.integration
@pytest.mark.parametrize("inventory", ["local", "smart_home", "campus", "city", "health", "smart_home_microk8s",
                                       "campus_microk8s", "city_microk8s", "health_microk8s", "local_k8s"])
def test_shipped_inventories_pass(inventory):
    result = _validate(ROOT / "inventories" / inventory)
    assert result.returncode == 0, result.stdout[-3000:]


@pytest.mark.integration
def test_the_good_base_inventory_passes(tmp_path):
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(GOOD))
    result = _validate(path)
    assert result.returncode == 0, result.stdout[-3000:]


@pytest.mark.integration
def test_an_inventory_without_dsa_platform_is_the_host_configuration(tmp_path):
    """dsa_platform defaults to host in roles/platform; the checks see that default, so the host
    rules apply (two databases are refused) and nothing else is reported."""
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(_mutated(_set(["vars", "dsa_platform"], _DELETE))))
    assert _validate(path).returncode == 0
    two_databases = _mutated(_set(["vars", "dsa_platform"], _DELETE))
    two_databases["all"]["children"]["postgresql"]["hosts"]["api1"] = {}
    path.write_text(yaml.safe_dump(two_databases))
    result = _validate(path)
    assert result.returncode != 0
    assert "groups.postgresql: host mode runs exactly one PostgreSQL server" in result.stdout
    assert "dsa_platform" not in result.stdout


@pytest.mark.integration
def test_every_problem_is_listed_in_one_run(tmp_path):
    """Several mistakes at once: one run names all of them (global ones and per-host ones)."""
    inventory = _mutated(_set(["vars", "dsa_api_url"], "ftp://api"))
    inventory["all"]["vars"]["postgresql_allowed_networks"] = ["10.1.2.7/24"]
    inventory["all"]["vars"]["iot_api_instances"] = 0
    inventory["all"]["children"]["iot_api"]["hosts"]["api9"] = {}
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory))
    result = _validate(path)
    assert result.returncode != 0
    for expected in ("dsa_api_url: 'ftp://api' must start with http://", "postgresql_allowed_networks[0]",
                     "groups.nodes: api9 is in group iot_api but not in nodes", "iot_api_instances: must be at least 1 on api1"):
        assert expected in result.stdout, expected


@pytest.mark.integration
def test_a_role_default_moves_with_the_platform_variable(tmp_path):
    """The checks read the roles' defaults, which derive from the platform variables: moving
    dsa_api_http_port onto the API's first instance port is a clash, found without naming any role variable."""
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(_mutated(_set(["vars", "dsa_api_http_port"], 8001))))
    result = _validate(path)
    assert result.returncode != 0
    assert "port 8001 is already used by iot_api_nginx_port on api1" in result.stdout, result.stdout[-3000:]


@pytest.mark.integration
def test_generated_secrets_are_never_read_as_inventory(tmp_path):
    """Secrets live in a hidden .credentials/ beside the inventory: Ansible parses every other file
    in an inventory directory as a source, which would print a password as a host name."""
    inventory = tmp_path / "inv"
    (inventory / ".credentials").mkdir(parents=True)
    (inventory / "hosts.yml").write_text(yaml.safe_dump(GOOD))
    (inventory / ".credentials" / "iot_api_db").write_text("Sup3rSecretPassw0rd\n")
    result = subprocess.run([str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(inventory), "--list"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    assert "db1" in result.stdout and "Sup3rSecretPassw0rd" not in result.stdout + result.stderr
    for path in (ROOT / "inventories").rglob("*.yml"):
        text = path.read_text()
        assert "'/credentials/" not in text and '}}/credentials"' not in text, f"{path}: secrets must go to .credentials/"
