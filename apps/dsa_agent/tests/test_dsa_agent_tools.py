"""The data-source tools: clear errors (and no hang) when a source is unreachable or silent,
the real k6 summary format, the journal through the real journalctl, platform state."""
import json
import os
import socket
import threading
import time

import pytest

from dsa_agent.config import Settings
from dsa_agent.tools import SourceError, benchmarks, logs, platform, prometheus


@pytest.fixture
def silent_server():
    """Accepts TCP connections and never answers (a hung source)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    conns = []
    stop = threading.Event()

    def loop():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])
            except OSError:
                pass
    t = threading.Thread(target=loop, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}"
    stop.set()
    t.join()
    for c in conns:
        c.close()
    srv.close()


def _closed_port() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


def test_an_unreachable_prometheus_is_a_clear_error():
    url = _closed_port()
    with pytest.raises(SourceError, match=r"prometheus: http://127\.0\.0\.1:\d+ is unreachable"):
        prometheus.query(url, "up", timeout=2)
    with pytest.raises(SourceError, match="not configured"):
        prometheus.targets("", timeout=2)


@pytest.mark.parametrize("call", [
    lambda u: prometheus.query_range(u, "up", time.time() - 60, time.time(), 5, timeout=1.5),
    lambda u: prometheus.alerts(u, timeout=1.5),
    lambda u: logs.loki(u, '{job="x"}', time.time() - 60, time.time(), timeout=1.5),
    lambda u: logs.elasticsearch(u, "error", time.time() - 60, time.time(), timeout=1.5),
])
def test_a_silent_source_times_out_instead_of_hanging(silent_server, call):
    t0 = time.monotonic()
    with pytest.raises(SourceError, match=r"did not answer within 1\.5 s"):
        call(silent_server)
    assert time.monotonic() - t0 < 5


def test_the_real_k6_summary_is_read(k6_results):
    res = benchmarks.results(k6_results)
    (run,) = res["runs"]
    assert run["configuration"] == "baseline" and run["scenario"] == "smoke-open"
    assert 30 <= run["requests"] <= 50  # 20/s for 2 s, open model
    assert run["offered_rate"] == pytest.approx(20.0)
    assert run["failure_rate"] == 0.0 and run["latency_ms"]["p95"] > 0
    assert run["model"] == "open"


def test_report_csv_rows_are_read(tmp_path, k6_results):
    import shutil
    d = tmp_path / "r"
    shutil.copytree(k6_results, d)
    (d / "report.csv").write_text("configuration,scenario,requests,rate,p95_ms\nbaseline,smoke-open,40,20.0,3.1\n")
    res = benchmarks.results(str(d))
    assert res["reports"][0]["rows"][0]["p95_ms"] == "3.1"


def test_a_broken_summary_is_named_not_fatal(tmp_path):
    bad = tmp_path / "c" / "s"
    bad.mkdir(parents=True)
    (bad / "summary.json").write_text("{not json")
    res = benchmarks.results(str(tmp_path))
    assert res["runs"] == [] and "summary.json" in res["errors"][0]
    with pytest.raises(SourceError, match="does not exist"):
        benchmarks.results(str(tmp_path / "missing"))


def test_the_journal_is_read_with_the_real_journalctl(monkeypatch):
    # Whatever this machine's journal holds, the call must finish and return parsed records.
    assert isinstance(logs.journal(["no-such-unit.service"], 60, timeout=10), list)
    monkeypatch.setattr(logs.shutil, "which", lambda name: None)
    with pytest.raises(SourceError, match="journalctl is not installed"):
        logs.journal(["x"], 60)


def test_a_journalctl_that_hangs_times_out(tmp_path):
    fake = tmp_path / "journalctl"
    fake.write_text("#!/bin/sh\nsleep 30\n")
    fake.chmod(0o755)
    t0 = time.monotonic()
    with pytest.raises(SourceError, match="did not finish within 1 s"):
        logs.journal(["x"], 60, timeout=1, journalctl=str(fake))
    assert time.monotonic() - t0 < 5


def test_journal_json_lines_are_parsed(tmp_path):
    fake = tmp_path / "journalctl"
    rec = {"__REALTIME_TIMESTAMP": "1700000000000000", "_SYSTEMD_UNIT": "nginx.service",
           "PRIORITY": "3", "MESSAGE": [104, 105]}
    fake.write_text(f"#!/bin/sh\necho '{json.dumps(rec)}'\n")
    fake.chmod(0o755)
    (line,) = logs.journal(["nginx.service"], 60, journalctl=str(fake))
    assert line == {"ts": 1700000000.0, "labels": {"unit": "nginx.service", "priority": "3"},
                    "line": "hi"}


def test_host_mode_platform_state_reads_the_inventory(inventory):
    s = Settings.from_env({"inventory": inventory, "prometheus_url": _closed_port(),
                           "source_timeout": "2"}, environ={})
    st = platform.state(s)
    assert st["mode"] == "host"
    assert st["groups"]["iot_api"] == ["dsa-local-app"]
    assert "unreachable" in st["errors"][0]


def test_a_missing_kubeconfig_is_a_clear_error(tmp_path):
    s = Settings.from_env({"kubeconfig": str(tmp_path / "nope")}, environ={})
    with pytest.raises(SourceError, match="kubeconfig .* does not exist"):
        platform.state(s)


def test_an_unreachable_cluster_is_a_clear_error(tmp_path):
    kc = tmp_path / "kubeconfig"
    kc.write_text(f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "{_closed_port().replace('http', 'https')}", insecure-skip-tls-verify: true}}}}]
users: [{{name: u, user: {{token: t}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
current-context: x
""")
    s = Settings.from_env({"kubeconfig": str(kc), "source_timeout": "2"}, environ={})
    t0 = time.monotonic()
    with pytest.raises(SourceError, match="kubernetes: cluster unreachable"):
        platform.state(s)
    assert time.monotonic() - t0 < 20


def test_bad_settings_name_the_variable():
    with pytest.raises(ValueError, match="DSA_AGENT_LLM_PROVIDER must be one of"):
        Settings.from_env({"llm_provider": "gpt"}, environ={})
    with pytest.raises(ValueError, match="DSA_AGENT_PORT must be a number"):
        Settings.from_env({}, environ={"DSA_AGENT_PORT": "eighty"})
