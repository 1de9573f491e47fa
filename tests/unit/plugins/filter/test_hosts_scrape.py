"""host_addresses (allow lists from inventory hosts) and proxied_static_configs (scrapes via nginx)."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.dsa.platform.plugins.filter.hosts import host_addresses
from ansible_collections.dsa.platform.plugins.filter.scrape import proxied_static_configs

HOSTVARS = {
    "mon1": {"ansible_host": "10.20.3.10"},
    "mon2": {"ansible_host": "mon2.campus.example",
             "ansible_default_ipv4": {"address": "10.20.3.11"}, "ansible_default_ipv6": {"address": "fd00::11"}},
    "mon3": {"ansible_host": "mon3.campus.example"},
    "v6": {"ansible_host": "fd00::5"},
}


def test_address_from_ansible_host_else_facts():
    assert host_addresses(["mon1", "mon2", "v6"], HOSTVARS) == ["10.20.3.10", "10.20.3.11", "fd00::11", "fd00::5"]


def test_as_one_host_networks():
    assert host_addresses(["mon1", "mon2"], HOSTVARS, cidr=True) == ["10.20.3.10/32", "10.20.3.11/32", "fd00::11/128"]


def test_a_named_host_without_facts_is_left_out_and_reported_as_unknown():
    assert host_addresses(["mon1", "mon3"], HOSTVARS) == ["10.20.3.10"]
    assert host_addresses(["mon1", "mon3", "nowhere"], HOSTVARS, unknown=True) == ["mon3", "nowhere"]


def test_empty_and_wrong_input():
    assert host_addresses(None, HOSTVARS) == []
    assert host_addresses(["mon1", "mon1"], HOSTVARS) == ["10.20.3.10"]
    with pytest.raises(AnsibleFilterError, match="list of inventory host names"):
        host_addresses("mon1", HOSTVARS)


def test_one_static_config_per_instance_through_the_proxy():
    assert proxied_static_configs(["app1:8001", "[fd00::5]:8002"], 9180) == [
        {"targets": ["app1:9180"], "labels": {"instance": "app1:8001", "__metrics_path__": "/instances/8001/metrics"}},
        {"targets": ["[fd00::5]:9180"],
         "labels": {"instance": "[fd00::5]:8002", "__metrics_path__": "/instances/8002/metrics"}},
    ]
    assert proxied_static_configs([], 9180) == []


def test_a_target_without_port_is_refused():
    with pytest.raises(AnsibleFilterError, match="'app1' is not address:port"):
        proxied_static_configs(["app1"], 9180)
