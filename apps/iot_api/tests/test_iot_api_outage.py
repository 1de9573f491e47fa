"""PostgreSQL stopped mid-run under a real gunicorn: requests get 503 + Retry-After, the service
recovers without a restart when PostgreSQL returns, and every reading acknowledged with 201 is
in the database exactly once (also after the client retries what failed). Run under both worker
classes the app offers for production: gthread, and gevent with the cooperative driver (where
COPY runs with the wait callback lifted)."""
import http.client
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import psycopg2
import pytest
from service_testing import wait_until

from iot_api import auth
from iot_api.migrate import migrate
from iot_api_pgserver import PgServer, free_port

pytestmark = pytest.mark.integration
T0 = datetime(2026, 2, 1, tzinfo=timezone.utc)


@pytest.fixture
def private_pg():
    server = PgServer()
    server.init().start().create_database()
    migrate(server.dsn)
    yield server
    server.cleanup()


@pytest.fixture(params=["gthread", "gevent"])
def api(request, private_pg, tmp_path):
    conn = psycopg2.connect(private_pg.dsn)
    with conn, conn.cursor() as cur:
        cur.execute("INSERT INTO devices (id, name, location) VALUES ('ac-1', 'AC', 'lab')")
        _, key = auth.create_key(cur, "outage-test", ["write"])
    conn.close()
    port = free_port()
    env = {**os.environ, "IOT_API_DATABASE_URL": private_pg.dsn, "IOT_API_BIND": f"127.0.0.1:{port}",
           "IOT_API_WORKERS": "2", "IOT_API_WORKER_CLASS": request.param,
           "IOT_API_RATE_LIMIT": "off", "IOT_API_RETRY_AFTER_SECONDS": "1",
           "IOT_API_POOL_TIMEOUT": "2", "IOT_API_CONNECT_TIMEOUT": "2",
           "IOT_API_ACCESS_LOG": "false", "IOT_API_LOG_LEVEL": "WARNING"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = open(tmp_path / "gunicorn.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config",
                             "python:iot_api.gunicorn_conf", "iot_api.wsgi:app"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    wait_until(lambda: http_request(port, "GET", "/readyz")[0] == 200, proc,
               tmp_path / "gunicorn.log", "gunicorn did not become ready", timeout=20)
    yield port, key, proc
    proc.terminate()
    proc.wait(timeout=20)
    log.close()


def http_request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def batch(start, n=5):
    return [{"device_id": "ac-1", "measured_at": (T0 + timedelta(seconds=start + i)).isoformat(),
             "temperature_current": 22.0, "temperature_desired": 21.0, "humidity": 40.0,
             "pressure": 1000.0, "air_quality": 20.0, "voltage": 230.0, "current": 1.0,
             "power": 230.0, "is_on": True, "status": "cooling", "location": "lab"}
            for i in range(n)]


def test_outage_503_recovery_and_exactly_once(private_pg, api):
    port, key, proc = api
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    acked, failed, retry_afters, statuses = [], [], [], []
    seq = 0

    def send(phase):
        nonlocal seq
        start, seq = seq, seq + 5
        try:
            status, hdrs, _ = http_request(port, "POST", "/api/v1/readings",
                                           json.dumps(batch(start)), headers)
        except OSError:
            status, hdrs = None, {}
        statuses.append((phase, status))
        if status == 201:
            acked.append(start)
        else:
            failed.append(start)
            if status == 503:
                retry_afters.append(hdrs.get("Retry-After"))
        return status

    for _ in range(20):  # healthy
        assert send("before") == 201
    private_pg.stop("fast")
    t_end = time.monotonic() + 2
    while time.monotonic() < t_end:  # outage: bounded by time
        send("outage")
        time.sleep(0.02)
    outage = [s for p, s in statuses if p == "outage"]
    assert outage and all(s == 503 for s in outage), outage
    assert all(ra == "1" for ra in retry_afters)
    status, hdrs, _ = http_request(port, "GET", "/readyz")
    assert status == 503 and hdrs.get("Retry-After") == "1"

    private_pg.start()  # same data directory and port; gunicorn is not touched
    deadline = time.monotonic() + 20
    recovered = 0
    while recovered < 20 and time.monotonic() < deadline:
        recovered += send("after") == 201
        time.sleep(0.01)
    assert recovered == 20, statuses[-10:]
    assert proc.poll() is None  # no restart
    assert http_request(port, "GET", "/readyz")[0] == 200

    conn = psycopg2.connect(private_pg.dsn)
    with conn.cursor() as cur:
        cur.execute("SELECT extract(epoch FROM measured_at - %s)::int, count(*) FROM readings"
                    " GROUP BY 1", (T0,))
        stored = dict(cur.fetchall())
    acked_seconds = {s + i for s in acked for i in range(5)}
    assert all(stored.get(s) == 1 for s in acked_seconds)  # every acknowledged reading, once
    assert set(stored) - acked_seconds <= {s + i for s in failed for i in range(5)}

    # the client retries what failed: afterwards everything sent is stored exactly once
    for start in failed:
        status, _, _ = http_request(port, "POST", "/api/v1/readings", json.dumps(batch(start)),
                                    headers)
        assert status == 201
    with conn.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT measured_at) FROM readings")
        total, distinct = cur.fetchone()
    conn.close()
    assert total == distinct == seq

    # /metrics aggregates both gunicorn workers (prometheus multiprocess mode)
    status, _, body = http_request(port, "GET", "/metrics")
    text = body.decode()
    line = next(ln for ln in text.splitlines()
                if ln.startswith('iot_api_readings_ingested_total{route="/api/v1/readings"}'))
    assert float(line.split()[-1]) >= len(acked) * 5
    assert 'status="503"' in text
