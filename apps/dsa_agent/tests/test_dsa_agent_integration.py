"""End to end against real parts: a real Prometheus (Debian's binary, 1 s scrapes) scraping a
real IoT API (private PostgreSQL, real gunicorn, /metrics) under real k6 load (open model,
bounded). A real fault: PostgreSQL stopped (SIGSTOP to every server process) for 20 s in the
middle of a run. The agent, provider none, must report anomalies whose windows overlap the
fault with error-rate and latency evidence, and nothing on a clean run of the same stack."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from dsa_agent import graph, report
from dsa_agent.config import Settings
from dsa_agent_helpers import K6, PgCluster, ScriptedChatModel, free_port, k6_script, tool_call
from langchain_core.messages import AIMessage

pytestmark = pytest.mark.integration
BIN = os.path.dirname(sys.executable)


def _prometheus_binary() -> str:
    exe = shutil.which("prometheus") or "/usr/bin/prometheus"
    if not os.path.exists(exe):
        pytest.fail("the prometheus binary is missing: apt-get install -y prometheus",
                    pytrace=False)
    return exe


def _wait(url: str, what: str, proc, log, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        assert proc.poll() is None, f"{what} exited: {open(log).read()[-2000:]}"
        time.sleep(0.3)
    raise AssertionError(f"{what} did not become ready")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    base = tmp_path_factory.mktemp("stack")
    pg = PgCluster().start()
    procs = []
    try:
        env = {**os.environ, "IOT_API_DATABASE_URL": pg.dsn}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        subprocess.run([os.path.join(BIN, "iot-api"), "migrate"], env=env, check=True,
                       capture_output=True, timeout=60)
        key = subprocess.run([os.path.join(BIN, "iot-api"), "keys", "create", "--name", "k6",
                              "--scope", "read"], env=env, check=True, capture_output=True,
                             text=True, timeout=60).stdout.strip()
        api_port = free_port()
        # Two connections per worker for 16 threads: when the database hangs, two threads wait
        # on it and the others time out on the pool (503 after 1 s), fast enough to keep up
        # with the load and to answer Prometheus's scrapes.
        env.update({"IOT_API_BIND": f"127.0.0.1:{api_port}", "IOT_API_WORKERS": "2",
                    "IOT_API_WORKER_CLASS": "gthread", "IOT_API_THREADS": "16",
                    "IOT_API_POOL_SIZE": "2", "IOT_API_POOL_TIMEOUT": "1",
                    "IOT_API_CONNECT_TIMEOUT": "2", "IOT_API_RATE_LIMIT": "off",
                    "IOT_API_ACCESS_LOG": "false", "IOT_API_LOG_LEVEL": "WARNING"})
        api_log = str(base / "api.log")
        api = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config",
                                "python:iot_api.gunicorn_conf", "iot_api.wsgi:app"], env=env,
                               stdout=open(api_log, "w"), stderr=subprocess.STDOUT)
        procs.append(api)
        _wait(f"http://127.0.0.1:{api_port}/readyz", "the IoT API", api, api_log)
        prom_port = free_port()
        cfg = base / "prometheus.yml"
        cfg.write_text("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                       "scrape_configs:\n  - job_name: iot_api\n    static_configs:\n"
                       f"      - targets: ['127.0.0.1:{api_port}']\n")
        prom_log = str(base / "prometheus.log")
        prom = subprocess.Popen([_prometheus_binary(), f"--config.file={cfg}",
                                 f"--storage.tsdb.path={base / 'tsdb'}",
                                 f"--web.listen-address=127.0.0.1:{prom_port}"],
                                stdout=open(prom_log, "w"), stderr=subprocess.STDOUT)
        procs.append(prom)
        _wait(f"http://127.0.0.1:{prom_port}/-/ready", "Prometheus", prom, prom_log)
        yield {"pg": pg, "api_port": api_port, "key": key, "base": base,
               "prom": f"http://127.0.0.1:{prom_port}"}
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        pg.stop()


def _load(stack, name: str, seconds: int, fault=None) -> dict:
    """One bounded open-model k6 run (20 req/s); ``fault(start)`` runs alongside it."""
    out = stack["base"] / name
    out.mkdir()
    script = k6_script(str(out / "summary.json"), f"http://127.0.0.1:{stack['api_port']}",
                       20, f"{seconds}s", timeout="3s", extra_path="/api/v1/devices",
                       headers={"Authorization": f"Bearer {stack['key']}"})
    path = out / "script.js"
    path.write_text(script)
    start = time.time()
    proc = subprocess.Popen([K6, "run", "--no-usage-report", "--quiet", str(path)], cwd=out,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    window = fault(start) if fault else None
    _, err = proc.communicate(timeout=seconds + 60)
    end = time.time()
    assert proc.returncode == 0, err[-2000:]
    time.sleep(2)  # the last scrapes
    return {"start": start, "end": end, "fault": window}


def _freeze(pg, delay: float, length: float):
    def run(start):
        time.sleep(max(0.0, start + delay - time.time()))
        pids = pg.pids()
        t0 = time.time()
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(length)
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
        return (t0, time.time())
    return run


def _analyse(stack, run: dict, tmp_path, model=None):
    settings = Settings.from_env({"prometheus_url": stack["prom"], "state_dir": str(tmp_path),
                                  "source_timeout": "5", "journal_units": "none.service"},
                                 environ={})
    begin = run["start"] + 8  # rate() needs a few scrapes of load behind it
    window_s = int(run["end"] - begin)
    return graph.run(settings, window_s, ["iot_api"], end=begin + window_s, model=model)


def test_clean_run_then_postgresql_stopped_mid_run(stack, tmp_path):
    clean = _load(stack, "clean", 45)
    res = _analyse(stack, clean, tmp_path)
    assert not [e for e in res["errors"] if e.startswith("prometheus")], res["errors"]
    series = {s["name"] for s in res["collected"]["series"]}
    assert {"iot_api error rate", "iot_api p95 latency", "iot_api throughput"} <= series
    assert res["collected"]["findings"] == [], report.markdown({"id": "clean", **res})
    # the load reached the database-backed route (not a 404 that never touches PostgreSQL)
    summary = json.loads((stack["base"] / "clean" / "summary.json").read_text())
    assert summary["metrics"]["http_req_failed"]["values"]["rate"] == 0

    faulty = _load(stack, "fault", 60, _freeze(stack["pg"], 22, 20))
    res = _analyse(stack, faulty, tmp_path)
    f0, f1 = faulty["fault"]
    overlapping = [f for f in res["collected"]["findings"]
                   if f["window"]["start"] <= f1 + 5 and f["window"]["end"] >= f0]
    kinds = {f["kind"] for f in overlapping}
    md = report.markdown({"id": "fault", **res}) + "\n".join(
        f"{x['name']}: " + " ".join(f"{p[0] - f0:.0f}:{p[1]:.3g}" for p in x["points"])
        for x in res["collected"]["series"])
    assert {"error_rate", "latency"} <= kinds, md
    err = next(f for f in overlapping if f["kind"] == "error_rate")
    assert err["evidence"]["peak"] >= 0.2 and "5.." in err["evidence"]["query"]
    assert err["evidence"]["points"] and err["evidence"]["methods"]
    lat = next(f for f in overlapping if f["kind"] == "latency")
    assert lat["evidence"]["peak"] >= 0.5  # pool time-outs of 1 s
    assert "anomal" in res["narrative"]["analyst"] and "error rate" in md

    # The stand-in model (ScriptedChatModel) asks the REAL Prometheus through the agent's tools.
    expr = ('(sum(rate(iot_api_http_requests_total{status=~"5.."}[5s])) or vector(0))'
            ' / sum(rate(iot_api_http_requests_total[5s]))')
    model = ScriptedChatModel(messages=iter([
        tool_call("prometheus_targets", {}, "t1"),
        tool_call("detect_anomalies", {"expr": expr, "kind": "error_rate", "minutes": 3}, "t2"),
        AIMessage(content="Errors rose while PostgreSQL was stopped."),
        tool_call("Verdict", {"explanations": {}, "rejected": [], "summary": "ok"}, "j1"),
    ]))
    res = _analyse(stack, faulty, tmp_path, model)
    targets, detected = res["tool_calls"]
    assert targets["name"] == "prometheus_targets" and '"health": "up"' in targets["result"]
    found = json.loads(detected["result"])
    assert any(f["window"]["start"] <= f1 + 5 and f["window"]["end"] >= f0 for f in found), found
