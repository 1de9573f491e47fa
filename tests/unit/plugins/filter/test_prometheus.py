"""The prometheus_targets filter: inventory hosts -> scrape targets."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.dsa.platform.plugins.filter.prometheus import FilterModule, prometheus_targets

HOSTVARS = {
    "db1": {"ansible_host": "10.0.0.11", "postgresql_exporter_port": 9188},
    "api1": {"ansible_host": "10.0.0.21", "iot_api_base_port": 9001, "iot_api_instances": 3},
    "api2": {},
    "v6": {"ansible_host": "fd00::5"},
}


def test_registered():
    assert set(FilterModule().filters()) == {"prometheus_targets"}


def test_address_from_ansible_host_or_inventory_name():
    assert prometheus_targets(["db1", "api2"], HOSTVARS, port=9100) == ["10.0.0.11:9100", "api2:9100"]


def test_port_var_overrides_the_default_port():
    assert prometheus_targets(["db1", "api2"], HOSTVARS, port=9187, port_var="postgresql_exporter_port") == [
        "10.0.0.11:9188", "api2:9187"]


def test_instances_on_consecutive_ports():
    targets = prometheus_targets(["api1", "api2"], HOSTVARS, port=8001, port_var="iot_api_base_port",
                                 count=2, count_var="iot_api_instances")
    assert targets == ["10.0.0.21:9001", "10.0.0.21:9002", "10.0.0.21:9003", "api2:8001", "api2:8002"]


def test_missing_group_or_no_hostvars_gives_plain_targets():
    assert prometheus_targets([], HOSTVARS, port=9100) == []
    assert prometheus_targets(None, HOSTVARS, port=9100) == []
    assert prometheus_targets(["h"], None, port=9100) == ["h:9100"]
    assert prometheus_targets(["unknown"], HOSTVARS, port=9100) == ["unknown:9100"]


def test_ipv6_is_bracketed_and_duplicates_dropped():
    assert prometheus_targets(["v6", "v6"], HOSTVARS, port=9100) == ["[fd00::5]:9100"]


def test_zero_instances_gives_no_target():
    assert prometheus_targets(["api2"], {"api2": {"iot_api_instances": 0}}, port=8001,
                              count_var="iot_api_instances") == []


@pytest.mark.parametrize("bad", [
    {"hosts": "db1", "kwargs": {"port": 9100}},
    {"hosts": ["api2"], "kwargs": {"port": "x"}},
    {"hosts": ["api2"], "kwargs": {"port": 65535, "count": 2}},
    {"hosts": ["api2"], "kwargs": {"port": 0}},
])
def test_bad_input_fails_clearly(bad):
    with pytest.raises(AnsibleFilterError, match="prometheus_targets"):
        prometheus_targets(bad["hosts"], HOSTVARS, **bad["kwargs"])
