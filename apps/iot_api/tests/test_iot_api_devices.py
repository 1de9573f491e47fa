"""Device management and the configuration document with ETag / If-Match and history."""
import pytest
from iot_api_helpers import hdr, reading

pytestmark = pytest.mark.integration

CFG = {"temperature_setpoint": 21.5, "humidity_setpoint": 40.0, "sampling_interval_s": 30,
       "enabled": True}


def test_device_crud(client, keys, counts):
    admin, read = hdr(keys["admin"]), hdr(keys["read"])
    r = client.post("/api/v1/devices", json={"id": "ac-7", "name": "Lobby AC",
                                             "location": "bldg-a/lobby"}, headers=admin)
    assert r.status_code == 201 and r.headers["Location"] == "/api/v1/devices/ac-7"
    assert r.get_json()["kind"] == "air_conditioner"
    dup = client.post("/api/v1/devices", json={"id": "ac-7", "name": "x", "location": "y"},
                      headers=admin)
    assert dup.status_code == 409 and dup.get_json()["errors"][0]["field"] == "id"
    assert client.get("/api/v1/devices/ac-7", headers=read).get_json()["name"] == "Lobby AC"
    r = client.patch("/api/v1/devices/ac-7", json={"location": "bldg-b/lobby"}, headers=admin)
    assert r.status_code == 200 and r.get_json()["location"] == "bldg-b/lobby"
    assert r.get_json()["name"] == "Lobby AC"
    assert client.patch("/api/v1/devices/ac-7", json={}, headers=admin).status_code == 422
    assert client.patch("/api/v1/devices/ac-8", json={"name": "z"}, headers=admin).status_code == 404
    assert client.delete("/api/v1/devices/ac-7", headers=admin).status_code == 204
    assert client.get("/api/v1/devices/ac-7", headers=read).status_code == 404
    assert client.delete("/api/v1/devices/ac-7", headers=admin).status_code == 404
    assert counts()["devices"] == 0 and counts()["device_configs"] == 0


def test_list_devices_pages_and_filters(client, keys):
    for i in range(5):
        client.post("/api/v1/devices", json={"id": f"d{i}", "name": f"D{i}",
                                             "location": "east" if i % 2 else "west"},
                    headers=hdr(keys["admin"]))
    r = client.get("/api/v1/devices?limit=2", headers=hdr(keys["read"])).get_json()
    assert [d["id"] for d in r["items"]] == ["d0", "d1"] and r["next_after"] == "d1"
    r = client.get("/api/v1/devices?limit=2&after=d3", headers=hdr(keys["read"])).get_json()
    assert [d["id"] for d in r["items"]] == ["d4"] and r["next_after"] is None
    r = client.get("/api/v1/devices?location=east", headers=hdr(keys["read"])).get_json()
    assert [d["id"] for d in r["items"]] == ["d1", "d3"]


def test_deleting_a_device_deletes_its_readings(client, keys, devices, counts):
    client.post("/api/v1/readings", json=[reading("ac-1", i=i) for i in range(3)]
                + [reading("ac-2", i=0)], headers=hdr(keys["write"]))
    assert client.delete("/api/v1/devices/ac-1", headers=hdr(keys["admin"])).status_code == 204
    assert counts()["readings"] == 1


def test_config_optimistic_concurrency_and_history(client, keys, devices):
    read, admin = hdr(keys["read"]), keys["admin"]
    r = client.get("/api/v1/devices/ac-1/config", headers=read)
    assert r.status_code == 200 and r.headers["ETag"] == '"1"'
    etag = r.headers["ETag"]
    assert client.get("/api/v1/devices/ac-1/config",
                      headers=hdr(keys["read"], **{"If-None-Match": etag})).status_code == 304

    missing = client.put("/api/v1/devices/ac-1/config", json=CFG, headers=hdr(admin))
    assert missing.status_code == 428 and missing.get_json()["errors"][0]["field"] == "If-Match"

    # two writers read version 1; the first wins, the second gets 412 and the current ETag
    first = client.put("/api/v1/devices/ac-1/config", json=CFG, headers=hdr(admin, **{"If-Match": etag}))
    assert first.status_code == 200 and first.headers["ETag"] == '"2"'
    assert first.get_json() == CFG
    second = client.put("/api/v1/devices/ac-1/config", json={**CFG, "enabled": False},
                        headers=hdr(admin, **{"If-Match": etag}))
    assert second.status_code == 412 and second.headers["ETag"] == '"2"'
    assert client.get("/api/v1/devices/ac-1/config", headers=read).get_json() == CFG

    third = client.put("/api/v1/devices/ac-1/config", json={**CFG, "enabled": False},
                       headers=hdr(admin, **{"If-Match": '"2"'}))
    assert third.status_code == 200 and third.headers["ETag"] == '"3"'
    hist = client.get("/api/v1/devices/ac-1/config/history", headers=read).get_json()["items"]
    assert [h["version"] for h in hist] == [3, 2]  # fixture device had no history row for v1
    assert hist[0]["config"]["enabled"] is False and hist[0]["changed_by"] == "test-admin"
    assert client.get("/api/v1/devices/zz/config/history", headers=read).status_code == 404


def test_created_device_has_default_config_in_history(client, keys):
    client.post("/api/v1/devices", json={"id": "ac-5", "name": "AC", "location": "roof"},
                headers=hdr(keys["admin"]))
    r = client.get("/api/v1/devices/ac-5/config/history", headers=hdr(keys["read"]))
    items = r.get_json()["items"]
    assert len(items) == 1 and items[0]["version"] == 1 and items[0]["config"]["enabled"] is True
