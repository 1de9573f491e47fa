"""Verify the postgresql role (host mode) on a real systemd container (podman)."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

CONF = "/etc/postgresql/15/main/conf.d/60-dsa-platform.conf"
HBA = "/etc/postgresql/15/main/pg_hba.conf"
SCENARIO = Path(__file__).resolve().parents[1]


def _password(name):
    # converge.yml generated it here with lookup('ansible.builtin.password', ...).
    return (Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "credentials" / name).read_text().split()[0]


def _psql(host, user, password, sql, db="iot", address="127.0.0.1"):
    return host.run("PGPASSWORD=%s psql -h %s -U %s -d %s -AXtc %s", password, address, user, db, sql)


def _conf(host):
    pairs = (line.split(" = ", 1) for line in host.file(CONF).content_string.splitlines() if " = " in line and not line.startswith("#"))
    return {key: value.strip("'") for key, value in pairs}


def _as_admin(host, sql):
    # Root administers as the postgres role through the pg_ident.conf map (peer auth, no password).
    return host.check_output("psql -U postgres -AXtc %s", sql)


def test_services_enabled_and_running(host):
    for name in ("postgresql", "postgresql@15-main", "prometheus-postgres-exporter"):
        service = host.service(name)
        assert service.is_running, name
    assert host.service("postgresql").is_enabled
    assert host.service("prometheus-postgres-exporter").is_enabled


def test_ports_listening(host):
    assert host.socket("tcp://0.0.0.0:5432").is_listening
    assert host.socket("tcp://:::5432").is_listening
    assert host.socket("tcp://9187").is_listening or host.socket("tcp://:::9187").is_listening


def test_settings_file_is_an_include_with_safe_mode(host):
    conf = host.file(CONF)
    assert conf.exists and conf.user == "postgres" and conf.mode == 0o644
    # postgresql.conf stays the package's and includes conf.d.
    assert host.file("/etc/postgresql/15/main/postgresql.conf").contains("^include_dir = 'conf.d'")
    settings = _conf(host)
    assert settings["listen_addresses"] == "*"
    assert settings["password_encryption"] == "scram-sha-256"
    assert settings["max_connections"] == "200"


def test_sizing_matches_the_hosts_memory_and_cpus(host):
    mem_mb = int(host.check_output("awk '/^MemTotal:/ {print $2}' /proc/meminfo")) // 1024
    vcpus = int(host.check_output("grep -c ^processor /proc/cpuinfo"))
    shared = max(int(mem_mb * 0.25), 128)
    per_gather = min(max(vcpus // 2, 1), 4)
    expected = {
        "shared_buffers": f"{shared}MB",
        "effective_cache_size": f"{int(mem_mb * 0.75)}MB",
        "maintenance_work_mem": f"{min(max(mem_mb // 16, 64), 2048)}MB",
        "work_mem": f"{max(int((mem_mb - shared) * 1024 / (200 * 3) / per_gather), 4096)}kB",
        "max_worker_processes": str(max(vcpus, 8)),
        "max_parallel_workers": str(vcpus),
        "max_parallel_workers_per_gather": str(per_gather),
    }
    settings = _conf(host)
    assert {key: settings[key] for key in expected} == expected
    # The running server uses them (the restart handler ran): shared_buffers is in 8 kB pages.
    assert int(_as_admin(host, "select setting from pg_settings where name = 'shared_buffers'")) * 8 == shared * 1024
    assert _as_admin(host, "show password_encryption") == "scram-sha-256"


def test_pg_hba_allows_the_inventory_networks_with_scram(host):
    hba = host.file(HBA)
    assert hba.user == "postgres" and hba.mode == 0o640
    lines = [line.split() for line in hba.content_string.splitlines() if line and not line.startswith("#")]
    for network in ("10.88.0.0/16", "192.0.2.0/24", "fd00:d5a::/64"):
        assert ["host", "iot", "iot_api,iot_reader", network, "scram-sha-256"] in lines
    assert ["host", "all", "all", "127.0.0.1/32", "scram-sha-256"] in lines
    assert not any(line[-1] in ("trust", "md5", "password") for line in lines)


def test_app_user_logs_in_over_tcp_with_its_password(host):
    result = _psql(host, "iot_api", _password("iot_api"), "select current_user, current_database()")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "iot_api|iot"
    assert _psql(host, "iot_reader", _password("iot_reader"), "select 1").stdout.strip() == "1"
    # Stored as SCRAM, never as plain text or md5.
    assert _as_admin(host, "select rolpassword like 'SCRAM-SHA-256$%' from pg_authid where rolname = 'iot_api'") == "t"


def test_wrong_password_is_refused(host):
    result = _psql(host, "iot_api", "not-the-password", "select 1")
    assert result.rc != 0
    assert "password authentication failed" in result.stderr


def test_database_is_utf8_and_owned_by_the_app(host):
    row = _as_admin(host, "select pg_encoding_to_char(encoding), pg_get_userbyid(datdba) from pg_database where datname = 'iot'")
    assert row == "UTF8|iot_api"


def test_exporter_reports_the_database_up(host):
    defaults = host.file("/etc/default/prometheus-postgres-exporter")
    assert defaults.user == "prometheus" and defaults.mode == 0o640
    assert not defaults.contains("password")
    metrics = ""
    for _ in range(20):
        metrics = host.run("curl -fsS http://127.0.0.1:9187/metrics").stdout
        if "\npg_up 1" in metrics:
            break
        time.sleep(1)
    assert "\npg_up 1" in metrics


@pytest.mark.parametrize("playbook", ["preflight_refuses.yml"])
def test_preflight_refuses_bad_input(playbook):
    project = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", SCENARIO.parents[1]))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(project / ".cache/collections"), ANSIBLE_ROLES_PATH=str(project / "roles"))
    result = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", str(SCENARIO / playbook)],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
