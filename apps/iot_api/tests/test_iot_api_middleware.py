"""Authentication and scopes, the keys CLI, rate limiting, CORS, request ids, JSON access logs,
and the catch-all error handler."""
import hashlib
import io
import json
import logging

import pytest
from iot_api_helpers import hdr, reading

from dsa_service.logs import JsonFormatter

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("method,url,scope", [
    ("get", "/api/v1/readings", "read"),
    ("post", "/api/v1/readings", "write"),
    ("get", "/api/v1/readings/stats", "read"),
    ("get", "/api/v1/devices", "read"),
    ("post", "/api/v1/devices", "admin"),
    ("get", "/api/v1/devices/ac-1", "read"),
    ("patch", "/api/v1/devices/ac-1", "admin"),
    ("delete", "/api/v1/devices/ac-1", "admin"),
    ("get", "/api/v1/devices/ac-1/config", "read"),
    ("put", "/api/v1/devices/ac-1/config", "admin"),
])
def test_no_key_wrong_key_wrong_scope(client, keys, devices, counts, method, url, scope):
    before = counts()
    call = getattr(client, method)
    r = call(url)
    assert r.status_code == 401 and r.mimetype == "application/problem+json"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert call(url, headers=hdr("iotk_not-a-real-key")).status_code == 401
    assert call(url, headers={"Authorization": "Basic dXNlcjpwYXNz"}).status_code == 401
    weaker = {"read": None, "write": "read", "admin": "write"}[scope]
    if weaker:
        r = call(url, headers=hdr(keys[weaker]))
        assert r.status_code == 403 and scope in r.get_json()["detail"]
    assert counts() == before


def test_x_api_key_header_and_scope_hierarchy(client, keys, devices):
    assert client.get("/api/v1/devices", headers={"X-API-Key": keys["read"]}).status_code == 200
    # admin implies write implies read
    assert client.get("/api/v1/devices", headers=hdr(keys["admin"])).status_code == 200
    assert client.post("/api/v1/readings", json=reading(), headers=hdr(keys["admin"])).status_code == 201


def test_keys_cli_create_and_revoke(app, clean_db):
    runner = app.test_cli_runner()
    res = runner.invoke(args=["keys", "create", "--name", "gateway-1", "--scope", "write"])
    assert res.exit_code == 0, res.output
    key = res.stdout.strip().splitlines()[-1]
    assert key.startswith("iotk_") and len(key) > 40
    with clean_db.cursor() as cur:
        cur.execute("SELECT id, key_hash, scopes FROM api_keys WHERE name = 'gateway-1'")
        key_id, stored, scopes = cur.fetchone()
        cur.execute("SELECT count(*) FROM api_keys WHERE key_hash::text LIKE %s", (f"%{key}%",))
        assert cur.fetchone()[0] == 0
    assert bytes(stored) == hashlib.sha256(key.encode()).digest() and scopes == ["write"]
    client = app.test_client()
    assert client.get("/api/v1/devices", headers=hdr(key)).status_code == 200
    assert client.post("/api/v1/devices", json={}, headers=hdr(key)).status_code == 403

    listed = runner.invoke(args=["keys", "list"])
    assert "gateway-1" in listed.output and key not in listed.output
    res = runner.invoke(args=["keys", "revoke", str(key_id)])
    assert res.exit_code == 0 and f"revoked {key_id}" in res.output
    assert client.get("/api/v1/devices", headers=hdr(key)).status_code == 401
    assert runner.invoke(args=["keys", "revoke", str(key_id)]).exit_code != 0
    bad = runner.invoke(args=["keys", "create", "--name", "x", "--scope", "root"])
    assert bad.exit_code != 0


def test_rate_limit_per_key_with_retry_after(make_app, keys, devices):
    client = make_app(rate_limit="3/minute").test_client()
    statuses = [client.get("/api/v1/devices", headers=hdr(keys["read"])).status_code
                for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    r = client.get("/api/v1/devices", headers=hdr(keys["read"]))
    assert r.status_code == 429 and r.mimetype == "application/problem+json"
    assert 1 <= int(r.headers["Retry-After"]) <= 61  # window end, whole seconds rounded up
    # another key has its own budget; health checks are never limited
    assert client.get("/api/v1/devices", headers=hdr(keys["admin"])).status_code == 200
    assert all(client.get("/healthz").status_code == 200 for _ in range(5))


def test_cors_by_configuration(make_app, keys):
    client = make_app(cors_origins="https://dash.example.org").test_client()
    r = client.get("/api/v1/devices", headers=hdr(keys["read"], Origin="https://dash.example.org"))
    assert r.headers["Access-Control-Allow-Origin"] == "https://dash.example.org"
    r = client.options("/api/v1/readings", headers={
        "Origin": "https://dash.example.org", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Authorization, Content-Type"})
    assert r.status_code == 200 and "POST" in r.headers["Access-Control-Allow-Methods"]
    r = client.get("/api/v1/devices", headers=hdr(keys["read"], Origin="https://evil.example.com"))
    assert "Access-Control-Allow-Origin" not in r.headers
    # off by default
    plain = make_app().test_client()
    r = plain.get("/api/v1/devices", headers=hdr(keys["read"], Origin="https://dash.example.org"))
    assert "Access-Control-Allow-Origin" not in r.headers


def test_request_id_and_json_access_log(app, client, keys):
    stream = io.StringIO()
    app.extensions["iot_api_access_log"].stream = stream
    r = client.get("/api/v1/devices", headers=hdr(keys["read"], **{"X-Request-ID": "abc-123"}))
    generated = client.get("/healthz").headers["X-Request-ID"]
    bad = client.get("/healthz", headers={"X-Request-ID": "x\" injected"}).headers["X-Request-ID"]
    assert r.headers["X-Request-ID"] == "abc-123"
    assert len(generated) == 32 and bad != "x\" injected"
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    first = lines[0]
    assert first["request_id"] == "abc-123" and first["status"] == 200
    assert first["route"] == "/api/v1/devices" and first["method"] == "GET"
    assert isinstance(first["duration_ms"], float) and first["key_id"] is not None
    assert first["logger"] == "iot_api.access" and first["ts"].endswith("Z")
    assert [line["status"] for line in lines] == [200, 200, 200]


def test_application_log_lines_are_json():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("iot_api.test")
    log.addHandler(handler)
    try:
        log.warning("database unavailable", extra={"request_id": "r1"})
    finally:
        log.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert line["msg"] == "database unavailable" and line["request_id"] == "r1"
    assert line["level"] == "WARNING"


def test_unexpected_error_is_a_500_problem_without_trace(make_app):
    app = make_app()

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    r = app.test_client().get("/boom", headers={"X-Request-ID": "req-500"})
    assert r.status_code == 500 and r.mimetype == "application/problem+json"
    body = r.get_data(as_text=True)
    assert "secret internals" not in body and "Traceback" not in body
    assert r.get_json()["request_id"] == "req-500"
