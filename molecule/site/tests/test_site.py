"""Verify playbooks/site.yml on two hosts: the API on one reaches PostgreSQL on the other,
nginx serves a real write and read, and Prometheus on the database host scrapes everything."""
import json
import time
import uuid
from datetime import datetime, timezone

import pytest
import testinfra

from conftest import controller_credential, http

DB = "dsa-mol-site-db"
APP = "dsa-mol-site-app"


@pytest.fixture(scope="module")
def db():
    return testinfra.get_host(f"podman://{DB}")


@pytest.fixture(scope="module")
def app():
    return testinfra.get_host(f"podman://{APP}")


def test_each_layer_runs_where_the_inventory_put_it(db, app):
    assert db.service("postgresql").is_running and db.service("prometheus").is_running
    assert not db.service("nginx").is_running
    for unit in ("iot-api@8001", "iot-api@8002", "nginx"):
        assert app.service(unit).is_enabled and app.service(unit).is_running, unit
    assert not app.package("postgresql-15").is_installed
    for node in (db, app):
        assert node.service("prometheus-node-exporter").is_running
        assert node.file("/etc/sysctl.d/60-dsa-platform.conf").exists


def test_the_database_admits_only_the_node_network(db):
    hba = db.file("/etc/postgresql/15/main/pg_hba.conf").content_string
    assert "10.89.71.0/24" in hba and "scram-sha-256" in hba
    assert db.socket("tcp://0.0.0.0:5432").is_listening


def test_write_then_read_through_nginx_on_the_api_host(app):
    key = controller_credential("iot_api_key_verify")
    device = f"site-{uuid.uuid4().hex[:10]}"
    status, _, body = http(app, "POST", "http://127.0.0.1/api/v1/devices", key,
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


def test_prometheus_scrapes_nodes_database_and_every_api_instance(db):
    deadline = time.monotonic() + 90
    while True:
        targets = json.loads(db.check_output("curl -sS http://127.0.0.1:9090/api/v1/targets?state=active"))
        health = {(t["labels"]["job"], t["labels"]["instance"]): t["health"] for t in targets["data"]["activeTargets"]}
        wanted = {("node", f"{DB}:9100"), ("node", f"{APP}:9100"), ("postgresql", f"{DB}:9187"),
                  ("iot_api", f"{APP}:8001"), ("iot_api", f"{APP}:8002")}
        if all(health.get(target) == "up" for target in wanted) or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert {target: health.get(target) for target in wanted} == {target: "up" for target in wanted}
