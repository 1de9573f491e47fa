"""Verify iot_api (host mode) on a real systemd container (podman): what a user relies on."""
import json
import os
import re
import uuid
from datetime import datetime, timezone

import pytest

from conftest import http as curl

PORTS = (8001, 8002)
NGINX = "http://127.0.0.1:80"
KEY_NAME = "molecule-admin"


@pytest.fixture(scope="module")
def api_key(host):
    """The admin key converge created (iot_api_bootstrap_keys) and wrote on the controller."""
    ephemeral = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "")
    path = os.path.join(ephemeral, "credentials", f"iot_api_key_{KEY_NAME}")
    if ephemeral and os.path.exists(path):
        assert os.stat(path).st_mode & 0o777 == 0o600
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    out = host.run(f"iot-api-admin keys create --name {KEY_NAME}-verify --scope admin 2>/dev/null")
    assert out.rc == 0
    return out.stdout.strip()


def test_instances_and_nginx_are_enabled_and_running(host):
    for port in PORTS:
        unit = host.service(f"iot-api@{port}")
        assert unit.is_enabled and unit.is_running, port
    assert not host.service("iot-api@8003").is_running
    assert host.service("nginx").is_enabled and host.service("nginx").is_running


def test_ports_listening(host):
    for port in PORTS:
        assert host.socket(f"tcp://127.0.0.1:{port}").is_listening, port
    assert host.socket("tcp://0.0.0.0:80").is_listening


def test_instances_run_as_the_system_user_with_hardening(host):
    user = host.user("iot-api")
    assert user.exists and user.shell == "/usr/sbin/nologin" and user.home == "/opt/iot-api"
    owners = host.check_output("ps -eo user:20,args | grep -- '-m gunicorn' | grep -v grep | awk '{print $1}' | sort -u")
    assert owners.split() == ["iot-api"]
    props = host.check_output("systemctl show iot-api@8001 -p NoNewPrivileges -p ProtectSystem -p PrivateTmp"
                              " -p Restart -p LimitNOFILE")
    assert "NoNewPrivileges=yes" in props and "ProtectSystem=strict" in props
    assert "PrivateTmp=yes" in props and "Restart=on-failure" in props and "LimitNOFILE=65536" in props
    # Each instance has its own prometheus multiprocess directory.
    for port in PORTS:
        d = host.file(f"/run/iot-api-{port}")
        assert d.is_directory and d.user == "iot-api"


def test_environment_file_is_root_only(host):
    env = host.file("/etc/iot-api/iot-api.env")
    assert env.exists and env.user == "root" and env.group == "root" and env.mode == 0o600
    assert env.contains("^IOT_API_DB_PASSWORD='.")
    assert env.contains("^IOT_API_REFERENCE_ROUTES='false'$")
    assert host.file("/usr/local/sbin/iot-api-admin").mode == 0o750


def test_the_wheel_is_installed_in_the_venv(host):
    assert host.file("/opt/iot-api/wheels/iot_api-0.1.0-py3-none-any.whl").exists
    out = host.check_output("/opt/iot-api/venv/bin/pip show iot-api")
    assert "Name: iot-api" in out


def test_migrations_ran_once_and_are_up_to_date(host):
    assert host.check_output("iot-api-admin migrate") == "schema is up to date"


def test_nginx_config_balances_over_both_instances(host):
    conf = host.file("/etc/nginx/conf.d/iot-api.conf").content_string
    assert "least_conn;" in conf
    assert "server 127.0.0.1:8001 " in conf and "server 127.0.0.1:8002 " in conf
    assert "rewrite" not in conf
    assert not host.file("/etc/nginx/sites-enabled/default").exists
    assert host.run("nginx -t").rc == 0


def test_readyz_through_nginx(host):
    status, _, body = curl(host, "GET", f"{NGINX}/readyz")
    assert status == 200 and json.loads(body)["status"] == "ready"


def test_paths_and_request_id_pass_through(host):
    status, headers, _ = curl(host, "GET", f"{NGINX}/api/v1/openapi.json", headers=["X-Request-ID: molecule-rid-1"])
    assert status == 200
    assert re.search(r"(?im)^x-request-id: molecule-rid-1\r?$", headers)


def test_nginx_status_is_served_on_the_metrics_port_only(host):
    """stub_status sits beside the instances' metrics, for an nginx exporter; the API port does not serve it."""
    status, _, body = curl(host, "GET", "http://127.0.0.1:9180/nginx_status")
    assert status == 200 and "Active connections" in body
    assert curl(host, "GET", f"{NGINX}/nginx_status")[0] == 404


def _requests_served(host, port, route):
    metrics = host.check_output(f"curl -sS http://127.0.0.1:{port}/metrics")
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith("iot_api_http_requests_total{") and f'route="{route}"' in line and 'method="GET"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_write_then_read_through_nginx_balanced_over_both_instances(host, api_key):
    device = f"mol-{uuid.uuid4().hex[:12]}"
    status, _, body = curl(host, "POST", f"{NGINX}/api/v1/devices", api_key,
                           {"id": device, "name": "molecule AC", "location": "molecule-lab"})
    assert status == 201, body

    measured = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    reading = {"device_id": device, "measured_at": measured, "temperature_current": 21.5,
               "temperature_desired": 22.0, "humidity": 40.0, "pressure": 1013.0, "air_quality": 42.0,
               "voltage": 230.0, "current": 1.5, "power": 345.0, "is_on": True, "status": "cooling",
               "location": "molecule-lab"}
    status, _, body = curl(host, "POST", f"{NGINX}/api/v1/readings", api_key, reading)
    assert status == 201, body
    assert json.loads(body)["inserted"] == 1

    route = "/api/v1/readings"
    before = {port: _requests_served(host, port, route) for port in PORTS}
    for _ in range(6):
        status, _, body = curl(host, "GET", f"{NGINX}/api/v1/readings?device_id={device}", api_key)
        assert status == 200, body
        items = json.loads(body)["items"]
        assert len(items) == 1
        got = items[0]
        assert got["device_id"] == device and got["status"] == "cooling" and got["is_on"] is True
        assert got["temperature_current"] == 21.5 and got["power"] == 345.0
        assert datetime.fromisoformat(got["measured_at"]) == datetime.fromisoformat(measured)
    after = {port: _requests_served(host, port, route) for port in PORTS}
    served = {port: after[port] - before[port] for port in PORTS}
    assert sum(served.values()) == 6
    assert all(n > 0 for n in served.values()), served


def test_instances_listen_on_loopback_only(host):
    """The default bind address keeps the gunicorn instances off the network; nginx fronts them."""
    for port in PORTS:
        assert not host.socket(f"tcp://0.0.0.0:{port}").is_listening, port


def test_prometheus_scrapes_each_instance_through_the_metrics_port(host):
    for port in PORTS:
        status, _, text = curl(host, "GET", f"http://127.0.0.1:9180/instances/{port}/metrics")
        assert status == 200, (port, text[:200])
        assert "iot_api_http_requests_total" in text
    # Only the instances of this host are proxied, nothing else on the metrics port.
    assert curl(host, "GET", "http://127.0.0.1:9180/instances/8003/metrics")[0] == 404
    assert curl(host, "GET", "http://127.0.0.1:9180/api/v1/devices")[0] == 404


def test_metrics_port_refuses_hosts_outside_the_allow_list(host):
    """The container's own network address is neither loopback nor a monitoring host: 403."""
    address = host.check_output("hostname -I").split()[0]
    status, _, _ = curl(host, "GET", f"http://{address}:9180/instances/{PORTS[0]}/metrics")
    assert status == 403
