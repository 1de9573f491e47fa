"""Operations endpoints, migrations, the OpenAPI document, reference-compatibility routes."""
import gzip
import json
import re

import pytest
from iot_api_helpers import hdr, reading
from iot_api_pgserver import free_port

from iot_api.migrate import available
from iot_api.reference import STATUSES as REFERENCE_STATUSES

pytestmark = pytest.mark.integration


def test_healthz_and_readyz(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200 and r.get_json()["database"] == "ok"


def test_database_unreachable_gives_503_with_retry_after(make_app, keys):
    down = make_app(database_url=f"postgresql://iot:x@127.0.0.1:{free_port()}/iot",
                    retry_after_seconds="7").test_client()
    assert down.get("/healthz").status_code == 200  # the process is alive
    r = down.get("/readyz")
    assert r.status_code == 503 and r.headers["Retry-After"] == "7"
    assert r.mimetype == "application/problem+json"
    r = down.get("/api/v1/devices", headers=hdr(keys["read"]))
    assert r.status_code == 503 and r.headers["Retry-After"] == "7"


def _sample(text, name, **labels):
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0 if want else None


def test_metrics_count_requests_latency_and_pool(client, keys, devices):
    text = client.get("/metrics").get_data(as_text=True)
    before = _sample(text, "iot_api_http_requests_total", method="GET",
                     route="/api/v1/devices/<device_id>", status="404")
    for _ in range(3):
        client.get("/api/v1/devices/nope", headers=hdr(keys["read"]))
    r = client.get("/metrics")
    assert r.status_code == 200 and r.mimetype == "text/plain"
    text = r.get_data(as_text=True)
    assert _sample(text, "iot_api_http_requests_total", method="GET",
                   route="/api/v1/devices/<device_id>", status="404") == before + 3
    assert _sample(text, "iot_api_http_request_duration_seconds_count", method="GET",
                   route="/api/v1/devices/<device_id>", status="404") >= 3
    assert "iot_api_db_pool_connections_in_use" in text
    assert "iot_api_db_pool_connections_max" in text


def test_metrics_can_require_a_key(make_app, keys):
    client = make_app(metrics_require_key="true").test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=hdr(keys["read"])).status_code == 200


def test_migrate_command_is_idempotent(app, admin_conn):
    runner = app.test_cli_runner()
    # the session schema is already migrated: running again changes nothing
    res = runner.invoke(args=["migrate"])
    assert res.exit_code == 0 and "up to date" in res.output
    res = runner.invoke(args=["migrate"])
    assert res.exit_code == 0 and "up to date" in res.output
    with admin_conn.cursor() as cur:
        cur.execute("SELECT version FROM schema_migrations ORDER BY version")
        assert [r[0] for r in cur.fetchall()] == [v for v, _, _ in available()]


def test_migrate_on_an_empty_database(pg, make_app, admin_conn):
    with admin_conn.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS iot_fresh")
        cur.execute("CREATE DATABASE iot_fresh")
    dsn = pg.dsn.rsplit("/", 1)[0] + "/iot_fresh"
    app = make_app(database_url=dsn)
    runner = app.test_cli_runner()
    first = runner.invoke(args=["migrate"])
    assert first.exit_code == 0 and "applied 0001_init.sql" in first.output
    second = runner.invoke(args=["migrate"])
    assert second.exit_code == 0 and "up to date" in second.output
    with admin_conn.cursor() as cur:
        cur.execute("DROP DATABASE iot_fresh")


def _flask_routes(app, prefix="/api/v1"):
    out = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(prefix) or rule.rule in ("/healthz", "/readyz", "/metrics") \
                or rule.rule.startswith("/iot"):
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
            methods = {m.lower() for m in rule.methods - {"HEAD", "OPTIONS"}}
            out.setdefault(path, set()).update(methods)
            if not rule.strict_slashes:  # the same route also answers with a trailing slash
                out.setdefault(path + "/", set()).update(methods)
    return out


@pytest.mark.parametrize("reference", ["false", "true"])
def test_openapi_document_matches_the_routes(make_app, reference):
    app = make_app(reference_routes=reference)
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    documented = {p: set(ops) for p, ops in doc["paths"].items()}
    assert documented == _flask_routes(app)
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert "200" in op["responses"] or "201" in op["responses"] or "204" in op["responses"], (path, method)
    # the request schema is the validation model
    reading_schema = doc["components"]["schemas"]["Reading"]
    assert reading_schema["additionalProperties"] is False
    assert set(reading_schema["required"]) == set(reading())
    assert reading_schema["properties"]["status"]["enum"][0] == "off"


def test_openapi_documents_the_reference_envelope(make_app):
    app = make_app(reference_routes="true", reference_open="true")
    client = app.test_client()
    doc = client.get("/api/v1/openapi.json").get_json()
    client.get("/iot/create?n=2")
    body = client.get("/iot/").get_json()
    for path in ("/iot", "/iot/"):
        schema = doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert set(schema["properties"]) == set(body) == set(schema["required"])
        row = schema["properties"]["result"]["items"]
        assert set(row["properties"]) == set(body["result"][0])
        assert row["properties"]["status"]["enum"] == list(REFERENCE_STATUSES)


def test_reference_routes_are_off_by_default(client, keys):
    for url in ("/iot", "/iot/create?n=5", "/iot/create_table"):
        assert client.get(url, headers=hdr(keys["admin"])).status_code == 404


def test_reference_routes_when_enabled(make_app, keys, counts):
    client = make_app(reference_routes="true").test_client()
    assert client.get("/iot").status_code == 401  # auth unless explicitly opened
    assert client.get("/iot/create?n=5", headers=hdr(keys["read"])).status_code == 403
    assert client.get("/iot/create_table", headers=hdr(keys["admin"])).status_code == 200
    r = client.get("/iot/create?n=120", headers=hdr(keys["write"]))
    assert r.status_code == 200 and r.get_json() == {"created": 120}
    assert counts()["iot"] == 120
    rows = client.get("/iot?limit=7", headers=hdr(keys["read"])).get_json()["result"]
    assert len(rows) == 7 and [r["id"] for r in rows] == list(range(120, 113, -1))
    assert set(rows[0]) == {"id", "temperature_current", "temperature_desired", "humidity",
                            "pressure", "air_quality", "voltage", "current", "power", "is_on",
                            "status", "location", "measured_at"}
    assert all(16 <= r["temperature_current"] <= 32 for r in rows)
    default = client.get("/iot", headers=hdr(keys["read"], **{"Accept-Encoding": "gzip"}))
    assert default.headers["Content-Encoding"] == "gzip"
    assert len(json.loads(gzip.decompress(default.get_data()))["result"]) == 120  # limit 500
    assert client.get("/iot/create?n=0", headers=hdr(keys["write"])).status_code == 400
    assert client.get("/iot/create?n=abc", headers=hdr(keys["write"])).status_code == 400
    assert counts()["iot"] == 120


def test_reference_routes_open_for_benchmarks(make_app, counts):
    client = make_app(reference_routes="true", reference_open="true").test_client()
    assert client.get("/iot/create_table").status_code == 200
    assert client.get("/iot/create?n=3").status_code == 200
    assert len(client.get("/iot").get_json()["result"]) == 3
    assert client.get("/api/v1/devices").status_code == 401  # only /iot* is opened


@pytest.mark.parametrize("cache", ["true", "false"])
def test_reference_latest_is_never_stale(make_app, clean_db, cache):
    """GET /iot may serve a cached body only while no write has committed since it was built,
    including a write that was in flight when the body was cached."""
    client = make_app(reference_routes="true", reference_open="true", reference_cache=cache).test_client()
    client.get("/iot/create?n=3")
    assert [r["id"] for r in client.get("/iot?limit=2").get_json()["result"]] == [3, 2]
    assert [r["id"] for r in client.get("/iot?limit=2").get_json()["result"]] == [3, 2]
    client.get("/iot/create?n=2")
    assert [r["id"] for r in client.get("/iot?limit=2").get_json()["result"]] == [5, 4]
    clean_db.autocommit = False
    try:
        with clean_db.cursor() as cur:  # a writer whose transaction is still open
            cur.execute("INSERT INTO iot (temperature_current, temperature_desired, humidity,"
                        " pressure, air_quality, voltage, current, power, is_on, status, location)"
                        " VALUES (20, 21, 40, 1000, 10, 230, 1, 230, true, 'off', 'x') RETURNING id")
            new_id = cur.fetchone()[0]
            assert [r["id"] for r in client.get("/iot?limit=2").get_json()["result"]] == [5, 4]
        clean_db.commit()
    finally:
        clean_db.autocommit = True
    assert [r["id"] for r in client.get("/iot?limit=2").get_json()["result"]][0] == new_id


def test_reference_paths_answer_with_and_without_a_trailing_slash(make_app, counts):
    """The reference workload requests GET /iot/: every compatibility path answers 200 itself
    on both spellings (a redirect is not what the reference API does)."""
    client = make_app(reference_routes="true", reference_open="true").test_client()
    for path in ("/iot/create_table", "/iot/create_table/"):
        r = client.get(path)
        assert r.status_code == 200 and "Location" not in r.headers, path
    assert client.get("/iot/create?n=4").get_json() == {"created": 4}
    assert client.get("/iot/create/?n=5").get_json() == {"created": 5}
    assert counts()["iot"] == 9
    for path in ("/iot", "/iot/", "/iot?limit=3", "/iot/?limit=3"):
        r = client.get(path)
        assert r.status_code == 200 and "Location" not in r.headers, path
        assert [row["id"] for row in r.get_json()["result"]][:3] == [9, 8, 7], path


def test_reference_create_writes_only_the_reference_statuses(make_app, admin_conn):
    client = make_app(reference_routes="true", reference_open="true").test_client()
    assert client.get("/iot/create?n=2000").status_code == 200
    with admin_conn.cursor() as cur:
        cur.execute("SELECT DISTINCT status FROM iot")
        statuses = {r[0] for r in cur.fetchall()}
    # 2000 uniform draws over 5 values: every value appears (a miss has probability < 1e-190)
    assert statuses == {"actuating", "ventilator", "heater", "cooling", "off"}
    rows = client.get("/iot?limit=2000").get_json()["result"]
    assert {r["status"] for r in rows} == statuses


@pytest.mark.parametrize("cache", ["true", "false"])
def test_reference_envelope_names_the_replica(make_app, monkeypatch, cache):
    """GET /iot wraps the rows as the reference does, naming the node and pod that answered,
    also in a body served from the cache, gzip or not."""
    monkeypatch.setenv("NODE_NAME", "node-7")
    monkeypatch.setenv("POD_NAME", "iot-api-5d8f-x2")
    client = make_app(reference_routes="true", reference_open="true",
                      reference_cache=cache).test_client()
    client.get("/iot/create?n=40")
    for _ in range(2):  # the second request is a cache hit when the cache is on
        plain = client.get("/iot")
        gz = client.get("/iot", headers={"Accept-Encoding": "gzip"})
        assert gz.headers["Content-Encoding"] == "gzip"
        for body in (plain.get_data(), gzip.decompress(gz.get_data())):
            doc = json.loads(body)
            assert list(doc) == ["node_name", "pod_name", "result"]
            assert doc["node_name"] == "node-7" and doc["pod_name"] == "iot-api-5d8f-x2"
            assert [r["id"] for r in doc["result"]] == list(range(40, 0, -1))
