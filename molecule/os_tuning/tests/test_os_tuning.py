"""Verify os_tuning on a real systemd container (podman)."""
import json


def _persisted(host):
    content = host.file("/etc/sysctl.d/60-dsa-platform.conf").content_string
    pairs = (line.split(" = ", 1) for line in content.splitlines() if " = " in line and not line.startswith("#"))
    return {key: value for key, value in pairs}


def test_settings_are_persisted_with_safe_mode(host):
    conf = host.file("/etc/sysctl.d/60-dsa-platform.conf")
    assert conf.exists and conf.user == "root" and conf.mode == 0o644
    persisted = _persisted(host)
    # At least the role's floor; the host's kernel may already have more.
    assert int(persisted["fs.file-max"]) >= 2097152
    assert persisted["net.ipv4.ip_local_port_range"] == "1024 65535"
    assert persisted["vm.max_map_count"] == "262144"


def test_a_higher_value_the_host_had_is_kept(host):
    # The container was created with somaxconn=131072 > the role's 65535.
    assert _persisted(host)["net.core.somaxconn"] == "131072"
    # A shorter FIN timeout is more tuned: 60 on the host, 15 wanted -> 15.
    assert _persisted(host)["net.ipv4.tcp_fin_timeout"] == "15"


def test_global_settings_are_reported_not_applied_in_a_container(host):
    fact = json.loads(host.file("/etc/ansible/facts.d/os_tuning.fact").content_string)
    reasons = fact["not_applied_at_runtime"]
    assert "container must not change" in reasons["fs.file-max"]
    assert "vm.swappiness" in reasons
    # The running kernel keeps the value the container started with.
    assert host.sysctl("net.core.somaxconn") == 131072


def test_open_file_limits(host):
    limits = host.file("/etc/security/limits.conf").content_string
    assert "*               soft    nofile          1048576" in limits or "* soft nofile 1048576" in " ".join(limits.split())
    dropin = host.file("/etc/systemd/system.conf.d/60-dsa-platform-limits.conf")
    assert dropin.contains("DefaultLimitNOFILE=1048576")
