"""Verify playbooks/site.yml with the campus inventory's settings on three hosts: the API on one
reaches PostgreSQL on another, nginx serves a real write and read, and Prometheus on the third
scrapes every node, the database and each API instance (through nginx's metrics port)."""
import json
import os
import time
import uuid
from datetime import datetime, timezone

import pytest
import testinfra

from conftest import http

DB = "dsa-mol-site-db"
APP = "dsa-mol-site-app"
MON = "dsa-mol-site-mon"
INSTANCES = (8001, 8002, 8003, 8004)  # iot_api_instances: 4 in inventories/campus


@pytest.fixture(scope="module")
def db():
    return testinfra.get_host(f"podman://{DB}")


@pytest.fixture(scope="module")
def app():
    return testinfra.get_host(f"podman://{APP}")


@pytest.fixture(scope="module")
def mon():
    return testinfra.get_host(f"podman://{MON}")


def _loadgen_key():
    """The write-scoped key the API role bootstraps by default, kept in the inventory's .credentials/."""
    path = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "inventory", ".credentials", "iot_api_key_loadgen")
    assert os.stat(path).st_mode & 0o777 == 0o600
    with open(path, encoding="utf-8") as handle:
        return handle.read().strip()


def test_each_layer_runs_where_the_inventory_put_it(db, app, mon):
    assert db.service("postgresql").is_running and mon.service("prometheus").is_running
    assert not db.service("nginx").is_running and not db.service("prometheus").is_running
    for unit in [f"iot-api@{port}" for port in INSTANCES] + ["nginx"]:
        assert app.service(unit).is_enabled and app.service(unit).is_running, unit
    assert not app.package("postgresql-15").is_installed
    for port in INSTANCES:
        assert app.socket(f"tcp://127.0.0.1:{port}").is_listening and not app.socket(f"tcp://0.0.0.0:{port}").is_listening
    for node in (db, app, mon):
        assert node.service("prometheus-node-exporter").is_running
        assert node.file("/etc/sysctl.d/60-dsa-platform.conf").exists


def test_the_database_admits_only_the_node_network(db):
    hba = db.file("/etc/postgresql/15/main/pg_hba.conf").content_string
    assert "10.20.2.0/24" in hba and "scram-sha-256" in hba
    assert db.socket("tcp://0.0.0.0:5432").is_listening


def test_write_then_read_through_nginx_on_the_api_host(app):
    """Devices are registered with an admin key (made on the host); the load generator's write key
    (bootstrapped by default) ingests and reads."""
    key = _loadgen_key()
    device = f"site-{uuid.uuid4().hex[:10]}"
    admin = app.check_output(f"iot-api-admin keys create --name {device}-admin --scope admin 2>/dev/null").strip()
    assert http(app, "POST", "http://127.0.0.1/api/v1/devices", key, {"id": device, "name": "x"})[0] == 403
    status, _, body = http(app, "POST", "http://127.0.0.1/api/v1/devices", admin,
                           {"id": device, "name": "site AC", "location": "wing-a"})
    assert status == 201, body
    reading = {"device_id": device, "measured_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
               "temperature_current": 23.25, "temperature_desired": 21.0, "humidity": 45.0, "pressure": 1012.0,
               "air_quality": 30.0, "voltage": 229.0, "current": 2.0, "power": 458.0, "is_on": True,
               "status": "cooling", "location": "wing-a"}
    status, _, body = http(app, "POST", "http://127.0.0.1/api/v1/readings", key, reading)
    assert status == 201, body
    status, _, body = http(app, "GET", f"http://127.0.0.1/api/v1/readings?device_id={device}", key)
    assert status == 200, body
    [item] = json.loads(body)["items"]
    assert item["temperature_current"] == 23.25 and item["power"] == 458.0


def test_prometheus_on_its_own_host_scrapes_every_target(mon):
    deadline = time.monotonic() + 90
    while True:
        targets = json.loads(mon.check_output("curl -sS http://127.0.0.1:9090/api/v1/targets?state=active"))
        health = {(t["labels"]["job"], t["labels"]["instance"]): t["health"] for t in targets["data"]["activeTargets"]}
        wanted = {("node", f"{node}:9100") for node in (DB, APP, MON)} | {("postgresql", f"{DB}:9187")}
        wanted |= {("iot_api", f"{APP}:{port}") for port in INSTANCES}
        if all(health.get(target) == "up" for target in wanted) or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert {target: health.get(target) for target in wanted} == {target: "up" for target in wanted}
    assert set(health) == wanted, "a target nobody asked for, or one missing"


def test_the_metrics_port_admits_the_monitoring_host_only(app, db):
    """The API host's metrics proxy answers Prometheus' host, and refuses the database host."""
    assert http(db, "GET", f"http://{APP}:9180/instances/8001/metrics")[0] == 403
