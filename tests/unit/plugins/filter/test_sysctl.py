import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.dsa.platform.plugins.filter.sysctl import sysctl_floor, sysctl_plan

SYSCTL_OUT = """net.core.somaxconn = 131072
net.ipv4.tcp_fin_timeout = 60
net.ipv4.ip_local_port_range = 32768\t60999
net.ipv4.tcp_rmem = 4096\t131072\t33554432
fs.file-max = 9223372036854775807
vm.swappiness = 60
net.ipv4.tcp_available_congestion_control = reno cubic
"""

DESIRED = {
    "net.core.somaxconn": 65535,
    "net.ipv4.tcp_fin_timeout": 15,
    "net.ipv4.ip_local_port_range": "1024 65535",
    "net.ipv4.tcp_rmem": "4096 87380 16777216",
    "fs.file-max": 2097152,
    "vm.swappiness": 10,
}


def test_never_lowers_a_more_tuned_value():
    persisted = sysctl_plan(DESIRED, SYSCTL_OUT)["persist"]
    assert persisted["net.core.somaxconn"] == "131072"  # host has more
    assert persisted["fs.file-max"] == "9223372036854775807"
    assert persisted["net.ipv4.tcp_fin_timeout"] == "15"  # shorter is more tuned
    assert persisted["vm.swappiness"] == "10"
    assert persisted["net.ipv4.ip_local_port_range"] == "1024 65535"  # widest of both
    assert persisted["net.ipv4.tcp_rmem"] == "4096 131072 33554432"  # element-wise max


def test_a_key_the_kernel_lacks_is_reported_not_written():
    result = sysctl_plan({**DESIRED, "net.ipv4.tcp_nonexistent": 1}, SYSCTL_OUT)
    assert "net.ipv4.tcp_nonexistent" not in result["persist"]
    assert result["not_applied"]["net.ipv4.tcp_nonexistent"] == "not known to this kernel"


def test_congestion_control_only_where_offered():
    unavailable = sysctl_plan(DESIRED, SYSCTL_OUT, congestion_control="bbr")
    assert "net.ipv4.tcp_congestion_control" not in unavailable["persist"]
    assert "not offered" in unavailable["not_applied"]["net.ipv4.tcp_congestion_control"]
    offered = sysctl_plan(DESIRED, SYSCTL_OUT, congestion_control="cubic")
    assert offered["persist"]["net.ipv4.tcp_congestion_control"] == "cubic"


def test_a_container_applies_only_namespaced_net_keys():
    result = sysctl_plan(DESIRED, SYSCTL_OUT, in_container=True)
    assert set(result["apply"]) == {"net.ipv4.tcp_fin_timeout", "net.ipv4.ip_local_port_range"}
    assert "container" in result["not_applied"]["fs.file-max"]
    assert "container" in result["not_applied"]["vm.swappiness"]


def test_only_differing_values_are_applied_so_a_converged_host_changes_nothing():
    first = sysctl_plan(DESIRED, SYSCTL_OUT)
    assert "net.core.somaxconn" not in first["apply"]  # already at the persisted value
    converged = "\n".join(f"{k} = {v}" for k, v in first["persist"].items())
    assert sysctl_plan(DESIRED, converged)["apply"] == {}


def test_read_only_proc_sys_applies_nothing_and_says_why():
    result = sysctl_plan(DESIRED, SYSCTL_OUT, proc_sys_read_only=True)
    assert result["apply"] == {}
    assert result["not_applied"]["net.ipv4.tcp_fin_timeout"] == "/proc/sys is read-only here"


def test_direction_override_and_bad_direction():
    assert sysctl_floor({"vm.swappiness": 10}, {"vm.swappiness": "60"}, {"vm.swappiness": "exact"}) == {"vm.swappiness": "10"}
    with pytest.raises(AnsibleFilterError, match="unknown direction"):
        sysctl_floor({"vm.swappiness": 10}, {}, {"vm.swappiness": "up"})
    with pytest.raises(AnsibleFilterError, match="range needs two numbers"):
        sysctl_floor({"net.ipv4.ip_local_port_range": "1024"}, {"net.ipv4.ip_local_port_range": "1 2"})
