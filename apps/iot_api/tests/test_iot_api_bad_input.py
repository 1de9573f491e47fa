"""Every kind of bad input gets a precise 4xx problem+json naming the field, and the database
is unchanged (real PostgreSQL)."""
import json

import pytest
from iot_api_helpers import TABLES, hdr, reading

pytestmark = pytest.mark.integration

INJECTIONS = [
    "'; DROP TABLE readings; --",
    "ac-1' OR '1'='1",
    "1; DELETE FROM devices",
    "\" OR 1=1 --",
    "ac-1'); TRUNCATE api_keys; --",
]


def _post(client, key, data, content_type="application/json", **headers):
    return client.post("/api/v1/readings", data=data,
                       headers=hdr(key, **({"Content-Type": content_type} if content_type else {}),
                                   **headers))


def _assert_problem(r, status, field=None):
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.mimetype == "application/problem+json"
    body = r.get_json()
    assert body["status"] == status and body["request_id"]
    if field is not None:
        fields = [e["field"] for e in body.get("errors", [])]
        assert field in fields, fields
    return body


BAD_BODIES = [
    ("malformed json", b'{"device_id": "ac-1", ', 400, "body"),
    ("not json at all", b"temperature=21", 400, "body"),
    ("json scalar", b"42", 422, "body"),
    ("empty batch", b"[]", 422, "body"),
    ("string for number", reading(temperature_current="23.5"), 422, "temperature_current"),
    ("number for bool", reading(is_on=1), 422, "is_on"),
    ("number for time", reading(measured_at=1767225600), 422, "measured_at"),
    ("null field", reading(humidity=None), 422, "humidity"),
    ("missing field", {k: v for k, v in reading().items() if k != "pressure"}, 422, "pressure"),
    ("unknown field", reading(fan_speed=3), 422, "fan_speed"),
    ("humidity above 100", reading(humidity=100.5), 422, "humidity"),
    ("negative power", reading(power=-1), 422, "power"),
    ("desired temperature out of range", reading(temperature_desired=90), 422, "temperature_desired"),
    ("time without offset", reading(measured_at="2026-01-01T00:00:00"), 422, "measured_at"),
    ("time before 2000", reading(measured_at="1999-12-31T23:59:59Z"), 422, "measured_at"),
    ("time far in the future", reading(measured_at="2999-01-01T00:00:00Z"), 422, "measured_at"),
    ("not a time", reading(measured_at="yesterday"), 422, "measured_at"),
    ("impossible date", reading(measured_at="2026-02-30T00:00:00Z"), 422, "measured_at"),
    ("impossible offset", reading(measured_at="2026-01-01T00:00:00+25:00"), 422, "measured_at"),
    ("space instead of T", reading(measured_at="2026-01-01 00:00:00Z"), 422, "measured_at"),
    ("non-ASCII digits", reading(measured_at="٢٠٢٦-01-01T00:00:00Z"), 422, "measured_at"),
    ("status outside the set", reading(status="exploding"), 422, "status"),
    ("status wrong case", reading(status="COOLING"), 422, "status"),
    ("NaN", b'{"device_id": "ac-1", "measured_at": "2026-01-01T00:00:00Z", "temperature_current": NaN,'
            b' "temperature_desired": 22, "humidity": 41, "pressure": 1012, "air_quality": 3,'
            b' "voltage": 230, "current": 2, "power": 5, "is_on": true, "status": "off",'
            b' "location": "x"}', 422, "temperature_current"),
    ("bad item in batch", [reading(i=0), reading(i=1, humidity=-5), reading(i=2)], 422, "[1].humidity"),
    ("unknown device", reading("no-such-device"), 422, "device_id"),
    ("unknown device in batch", [reading(i=0), reading("ghost", i=1)], 422, "[1].device_id"),
] + [(f"injection in device_id {i}", reading(s), 422, "device_id") for i, s in enumerate(INJECTIONS)] \
  + [(f"injection in location {i}", reading(location=s), 422, "location") for i, s in enumerate(INJECTIONS)] \
  + [(f"injection in status {i}", reading(status=s), 422, "status") for i, s in enumerate(INJECTIONS)] \
  + [(f"injection in measured_at {i}", reading(measured_at=s), 422, "measured_at")
     for i, s in enumerate(INJECTIONS)]


@pytest.mark.parametrize("name,body,status,field", BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_reading_bodies(client, keys, devices, counts, name, body, status, field):
    before = counts()
    data = body if isinstance(body, bytes) else json.dumps(body)
    _assert_problem(_post(client, keys["write"], data), status, field)
    assert counts() == before


def test_batch_over_the_limit_is_413(make_app, keys, devices, counts):
    client = make_app(batch_limit="10").test_client()
    before = counts()
    r = _post(client, keys["write"], json.dumps([reading(i=i) for i in range(11)]))
    _assert_problem(r, 413, "body")
    assert counts() == before
    assert _post(client, keys["write"], json.dumps([reading(i=i) for i in range(10)])).status_code == 201


def test_body_over_the_byte_limit_is_413(make_app, keys, devices, counts):
    client = make_app(max_body_bytes="2000").test_client()
    before = counts()
    _assert_problem(_post(client, keys["write"], json.dumps([reading(i=i) for i in range(20)])), 413)
    assert counts() == before


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded",
                                   "application/xml", None])
def test_wrong_content_type_is_415(client, keys, devices, counts, ctype):
    before = counts()
    _assert_problem(_post(client, keys["write"], json.dumps(reading()), ctype), 415, "Content-Type")
    assert counts() == before


@pytest.mark.parametrize("value", INJECTIONS + ["", "x" * 200])
def test_bad_idempotency_key(client, keys, devices, counts, value):
    before = counts()
    r = _post(client, keys["write"], json.dumps(reading()), **{"Idempotency-Key": value})
    _assert_problem(r, 400, "Idempotency-Key")
    assert counts() == before


QUERY_ROUTES = {
    "/api/v1/readings": ["device_id", "location", "since", "until", "limit", "cursor"],
    "/api/v1/readings/stats": ["device_id", "location", "since", "until", "bucket"],
    "/api/v1/devices": ["location", "limit", "after"],
}


@pytest.mark.parametrize("route,param", [(r, p) for r, ps in QUERY_ROUTES.items() for p in ps])
@pytest.mark.parametrize("inj", INJECTIONS[:3])
def test_injection_in_every_query_parameter(client, keys, devices, counts, admin_conn,
                                            route, param, inj):
    before = counts()
    r = client.get(route, query_string={param: inj}, headers=hdr(keys["read"]))
    _assert_problem(r, 400, param)
    assert counts() == before


@pytest.mark.parametrize("route", ["/api/v1/readings", "/api/v1/devices", "/api/v1/readings/stats"])
def test_unknown_or_repeated_query_parameter(client, keys, route):
    _assert_problem(client.get(route + "?drop=1", headers=hdr(keys["read"])), 400, "drop")
    r = client.get(route + "?location=a&location=b", headers=hdr(keys["read"]))
    _assert_problem(r, 400, "location")


@pytest.mark.parametrize("inj", INJECTIONS)
@pytest.mark.parametrize("method,suffix,scope", [
    ("get", "", "read"), ("patch", "", "admin"), ("delete", "", "admin"),
    ("get", "/config", "read"), ("put", "/config", "admin"), ("get", "/config/history", "read")])
def test_injection_in_device_path(client, keys, devices, counts, inj, method, suffix, scope):
    before = counts()
    body = {"name": "x"} if method == "patch" else (
        {"temperature_setpoint": 22, "humidity_setpoint": 45, "sampling_interval_s": 5, "enabled": True}
        if method == "put" else None)
    r = getattr(client, method)(f"/api/v1/devices/{inj}{suffix}", json=body,
                                headers=hdr(keys[scope], **{"If-Match": '"1"'}))
    _assert_problem(r, 404, "device_id")
    assert counts() == before


@pytest.mark.parametrize("field", ["id", "location", "kind"])
@pytest.mark.parametrize("inj", INJECTIONS[:3])
def test_injection_in_device_fields_is_rejected(client, keys, counts, field, inj):
    before = counts()
    body = {"id": "ac-9", "name": "AC 9", "location": "bldg-b", field: inj}
    _assert_problem(client.post("/api/v1/devices", json=body, headers=hdr(keys["admin"])), 422, field)
    assert counts() == before


@pytest.mark.parametrize("inj", INJECTIONS)
def test_injection_in_free_text_name_is_stored_verbatim(client, keys, counts, admin_conn, inj):
    """A device name is free text: the string is data, stored and returned unchanged."""
    before = counts()
    r = client.post("/api/v1/devices", json={"id": "ac-9", "name": inj, "location": "bldg-b"},
                    headers=hdr(keys["admin"]))
    assert r.status_code == 201 and r.get_json()["name"] == inj
    assert client.get("/api/v1/devices/ac-9", headers=hdr(keys["read"])).get_json()["name"] == inj
    after = counts()
    assert after["devices"] == before["devices"] + 1
    assert {t: after[t] for t in ("readings", "api_keys")} == {t: before[t] for t in ("readings", "api_keys")}
    with admin_conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_tables WHERE tablename = ANY(%s)", (list(TABLES),))
        assert cur.fetchone()[0] == len(TABLES)


@pytest.mark.parametrize("body,field", [
    ({"temperature_setpoint": 40, "humidity_setpoint": 45, "sampling_interval_s": 5, "enabled": True},
     "temperature_setpoint"),
    ({"temperature_setpoint": 22, "humidity_setpoint": 45, "sampling_interval_s": 0, "enabled": True},
     "sampling_interval_s"),
    ({"temperature_setpoint": 22, "humidity_setpoint": 45, "sampling_interval_s": 5, "enabled": "yes"},
     "enabled"),
    ({"temperature_setpoint": 22, "humidity_setpoint": 45, "sampling_interval_s": 5, "enabled": True,
      "turbo": True}, "turbo"),
    ({"temperature_setpoint": 22, "sampling_interval_s": 5, "enabled": True}, "humidity_setpoint"),
])
def test_bad_config_documents(client, keys, devices, counts, body, field):
    before = counts()
    r = client.put("/api/v1/devices/ac-1/config", json=body,
                   headers=hdr(keys["admin"], **{"If-Match": '"1"'}))
    _assert_problem(r, 422, field)
    assert counts() == before


def test_unknown_route_and_method_are_problems(client, keys):
    _assert_problem(client.get("/api/v1/nothing-here", headers=hdr(keys["read"])), 404)
    r = client.put("/api/v1/readings", headers=hdr(keys["admin"]))
    _assert_problem(r, 405)
    assert "POST" in r.headers["Allow"]
