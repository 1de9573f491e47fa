"""Verify dsa_agent (host mode) on a real systemd container: the API and the UI behind nginx.

The host also runs Debian's Prometheus (prepare.yml), and the role copied a real k6 run from the
controller, so an analysis reads real metrics and real benchmark results.
"""
import json
import os
import re
import time

import pytest

from conftest import controller_credential, http as curl

API = "http://127.0.0.1:8090"
UI = "http://127.0.0.1:8091"
RUN = "/opt/dsa-agent/results/smoke/20260101T000000Z"


@pytest.fixture(scope="module")
def ui_key():
    """The write key the role created for the UI, kept on the controller only."""
    return controller_credential("dsa_agent_key_ui")


@pytest.fixture(scope="module")
def read_key():
    return controller_credential("dsa_agent_key_molecule-read")


def test_services_run_as_the_system_user_with_hardening(host):
    for unit in ("dsa-agent-api", "dsa-agent-ui", "nginx"):
        service = host.service(unit)
        assert service.is_enabled and service.is_running, unit
    user = host.user("dsa-agent")
    assert user.shell == "/usr/sbin/nologin" and "systemd-journal" in user.groups
    for unit in ("dsa-agent-api", "dsa-agent-ui"):
        props = host.check_output(f"systemctl show {unit} -p User -p NoNewPrivileges -p ProtectSystem"
                                  " -p PrivateTmp -p Restart -p CapabilityBoundingSet -p MainPID")
        assert "User=dsa-agent" in props and "NoNewPrivileges=yes" in props, props
        assert "ProtectSystem=strict" in props and "PrivateTmp=yes" in props and "Restart=on-failure" in props
        assert re.search(r"^CapabilityBoundingSet=$", props, re.M), props
        pid = re.search(r"MainPID=(\d+)", props).group(1)
        assert host.check_output(f"ps -o user= -p {pid}").strip() == "dsa-agent", unit
    # Only nginx listens beyond loopback.
    assert host.socket("tcp://127.0.0.1:8070").is_listening
    assert host.socket("tcp://127.0.0.1:8501").is_listening
    assert not host.socket("tcp://0.0.0.0:8070").is_listening
    assert host.socket("tcp://0.0.0.0:8090").is_listening and host.socket("tcp://0.0.0.0:8091").is_listening


def test_environment_files_are_root_only_and_split_the_secrets(host, ui_key):
    api_env = host.file("/etc/dsa-agent/dsa-agent.env")
    ui_env = host.file("/etc/dsa-agent/dsa-agent-ui.env")
    for env in (api_env, ui_env):
        assert env.user == "root" and env.group == "root" and env.mode == 0o600
    assert api_env.contains("^DSA_AGENT_PROMETHEUS_URL='http://127.0.0.1:9090'$")
    assert api_env.contains(f"^DSA_AGENT_RESULTS_DIR='{RUN}'$")
    assert api_env.contains("^DSA_AGENT_LLM_PROVIDER='none'$")
    # The UI holds its key and where the API is, never the language-model key.
    assert ui_env.contains("^DSA_AGENT_API_URL='http://127.0.0.1:8070'$")
    assert f"DSA_AGENT_UI_API_KEY='{ui_key}'" in ui_env.content_string
    assert "LLM_API_KEY" not in ui_env.content_string
    # The host keeps digests only.
    keys = host.file("/var/lib/dsa-agent/api_keys.json")
    assert keys.user == "dsa-agent" and keys.mode == 0o600
    assert ui_key not in keys.content_string
    assert host.file("/usr/local/sbin/dsa-agent-admin").mode == 0o750


def test_the_newest_k6_run_was_copied_from_the_controller(host):
    summary = host.file(f"{RUN}/host/smoke/summary.json")
    assert summary.is_file and summary.user == "root"
    assert json.loads(summary.content_string)["metrics"]["http_reqs"]["values"]["count"] > 0
    assert host.file(f"{RUN}/report.csv").is_file


def test_nginx_config_is_valid_and_leaves_port_80_alone(host):
    conf = host.file("/etc/nginx/conf.d/dsa-agent.conf").content_string
    assert "listen 8090;" in conf and "listen 8091;" in conf and "default_server" not in conf
    assert host.run("nginx -t").rc == 0


def test_healthz_and_readyz_through_nginx(host):
    status, _, body = curl(host, "GET", f"{API}/healthz")
    assert status == 200, body
    status, _, body = curl(host, "GET", f"{API}/readyz")
    assert status == 200, body


def test_api_refuses_missing_and_underprivileged_keys(host, read_key):
    status, headers, _ = curl(host, "GET", f"{API}/api/v1/analyses")
    assert status == 401
    assert re.search(r"(?im)^content-type: application/problem\+json", headers)
    status, _, _ = curl(host, "GET", f"{API}/api/v1/analyses", "dsak_not-a-key")
    assert status == 401
    # A read key may list but not start an analysis.
    status, _, _ = curl(host, "GET", f"{API}/api/v1/analyses", read_key)
    assert status == 200
    status, _, _ = curl(host, "POST", f"{API}/api/v1/analyses", read_key, {"window": "15m"})
    assert status == 403


def test_an_analysis_through_nginx_reads_prometheus_and_the_k6_run(host, ui_key, read_key):
    status, headers, body = curl(host, "POST", f"{API}/api/v1/analyses", ui_key,
                                 {"window": "15m", "targets": ["prometheus"]})
    assert status == 202, body
    location = re.search(r"(?im)^location: (\S+)\r?$", headers).group(1)
    path = "/" + location.split("/", 3)[3] if location.startswith("http") else location
    deadline = time.monotonic() + 90
    while True:
        status, _, body = curl(host, "GET", f"{API}{path}", read_key)
        assert status == 200, body
        analysis = json.loads(body)
        if analysis["status"] != "running" or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert analysis["status"] == "done", analysis
    result = analysis["result"]
    # Prometheus answered (its own series came back, no source error) and the copied k6 run was read.
    assert result["errors"] == [], result["errors"]
    assert result["series"], "no series from Prometheus"
    runs = [(r["configuration"], r["scenario"], r["requests"] > 0) for r in result["k6_runs"]]
    assert runs == [("host", "smoke", True)], result["k6_runs"]


def test_bad_input_is_a_problem_naming_the_field(host, ui_key):
    status, headers, body = curl(host, "POST", f"{API}/api/v1/analyses", ui_key, {"window": "15m", "targets": ["bogus"]})
    assert status == 422, body
    assert "bogus" in body and re.search(r"(?im)^content-type: application/problem\+json", headers)


def test_the_ui_page_and_its_health_through_nginx(host):
    status, _, body = curl(host, "GET", f"{UI}/_stcore/health")
    assert status == 200 and body.strip() == "ok"
    status, _, body = curl(host, "GET", f"{UI}/")
    assert status == 200
    assert "<title>" in body and 'id="root"' in body


def test_the_ui_websocket_upgrades_through_nginx(host):
    """Streamlit's page is empty without its WebSocket: nginx must pass the upgrade on (a valid 16-byte key)."""
    out = host.run("curl -sS -o /dev/null -w '%{http_code}' --max-time 3 --http1.1"
                   " -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13'"
                   " -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -H 'Origin: http://127.0.0.1:8091'"
                   f" {UI}/_stcore/stream")
    assert out.stdout.strip() == "101", (out.stdout, out.stderr)


def test_the_cli_analyzes_with_the_services_settings(host):
    out = host.run("dsa-agent-admin analyze --window 15m --targets prometheus --out /var/lib/dsa-agent/cli-report.md")
    assert out.rc == 0, out.stderr
    report = host.file(out.stdout.strip().splitlines()[-1])
    assert report.is_file and report.user == "dsa-agent"
    assert report.size > 0


def test_the_analyze_entry_point_fetched_a_report_to_the_controller():
    """converge's second play: include_role tasks_from=analyze."""
    folder = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "analysis")
    reports = sorted(n for n in os.listdir(folder) if n.endswith(".md"))
    assert reports, folder
    with open(os.path.join(folder, reports[-1]), encoding="utf-8") as f:
        text = f.read()
    assert text.startswith("# dsa-agent analysis ") and "## Findings" in text
    assert "Targets: iot_api, postgresql, node, prometheus." in text
    assert "unreachable" not in text, text
