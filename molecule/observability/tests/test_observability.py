"""Verify observability (host mode) on a real systemd container (podman).

The container is in the groups observability, postgresql and iot_api, with the host variables
dsa_postgresql_exporter_port=19187, dsa_api_port=18001, dsa_api_metrics_port=19180 and
iot_api_instances=3 (molecule.yml). The node exporter comes from the node_exporter role.
"""
import json
import time
import urllib.parse
from pathlib import Path

import pytest
import yaml

HOST = "dsa-mol-observability"
DASHBOARDS = Path(__file__).resolve().parents[3] / "roles" / "observability" / "files" / "dashboards"


# One `podman exec` for many Prometheus API calls: each exec costs about a second on a busy machine.
_FETCH = """
import json, sys, urllib.error, urllib.request
out = []
for path in json.loads(sys.argv[1]):
    try:
        with urllib.request.urlopen("http://127.0.0.1:9090" + path, timeout=5) as resp:
            out.append(json.load(resp))
    except urllib.error.HTTPError as err:
        out.append({"status": "error", "code": err.code, "path": path, "error": err.read().decode()})
print(json.dumps(out))
"""


def _api_many(host, paths):
    bodies = json.loads(host.check_output("python3 -c %s %s", _FETCH, json.dumps(paths)))
    failed = [b for b in bodies if b.get("status") != "success"]
    assert not failed, failed
    return [b["data"] for b in bodies]


def _api(host, path):
    return _api_many(host, [path])[0]


@pytest.mark.parametrize("service", ["prometheus", "prometheus-node-exporter"])
def test_services_enabled_and_running(host, service):
    svc = host.service(service)
    assert svc.is_enabled
    assert svc.is_running


@pytest.mark.parametrize("port", [9090, 9100])
def test_ports_listening(host, port):
    assert host.socket(f"tcp://0.0.0.0:{port}").is_listening


def test_flags_in_default_files(host):
    prom = host.file("/etc/default/prometheus")
    assert prom.mode == 0o644 and prom.user == "root"
    assert 'ARGS="--web.listen-address=0.0.0.0:9090 --storage.tsdb.retention.time=2d"' in prom.content_string
    assert host.file("/etc/default/prometheus-node-exporter").contains("--web.listen-address=0.0.0.0:9100")


def test_config_has_the_inventory_targets(host):
    conf = host.file("/etc/prometheus/prometheus.yml")
    assert conf.user == "root" and conf.mode == 0o644
    jobs = {job["job_name"]: job for job in yaml.safe_load(conf.content_string)["scrape_configs"]}
    assert list(jobs) == ["node", "postgresql", "iot_api", "prometheus"]
    targets = {name: [t for sc in job["static_configs"] for t in sc["targets"]] for name, job in jobs.items()}
    assert targets["node"] == [f"{HOST}:9100"]
    assert targets["postgresql"] == [f"{HOST}:19187"]
    # Every instance is scraped through the host's metrics proxy, labelled as the instance itself.
    assert targets["iot_api"] == [f"{HOST}:19180"] * 3
    assert [(sc["labels"]["instance"], sc["labels"]["__metrics_path__"]) for sc in jobs["iot_api"]["static_configs"]] == [
        (f"{HOST}:{port}", f"/instances/{port}/metrics") for port in (18001, 18002, 18003)]
    assert host.run("promtool check config /etc/prometheus/prometheus.yml").rc == 0


def test_rules_file_is_valid_and_loaded(host):
    rules = host.file("/etc/prometheus/rules/dsa-platform.rules.yml")
    assert rules.mode == 0o644
    assert host.run("promtool check rules /etc/prometheus/rules/dsa-platform.rules.yml").rc == 0
    loaded = {r["name"] for g in _api(host, "/api/v1/rules")["groups"] for r in g["rules"]}
    assert {"PostgresqlDown", "IotApiHighErrorRatio", "IotApiSlowP95", "NodeDiskAlmostFull",
            "NodeMemoryLow", "job:iot_api_http_request_duration_seconds:p95_5m"} <= loaded


def test_node_target_is_up(host):
    deadline = time.monotonic() + 60
    while True:
        active = _api(host, "/api/v1/targets?state=active")["activeTargets"]
        node = [t for t in active if t["labels"]["job"] == "node"]
        if node and all(t["health"] == "up" for t in node):
            break
        assert time.monotonic() < deadline, f"node target not up within 60 s: {node}"
        time.sleep(2)
    pools = {t["scrapePool"] for t in active}
    assert {"node", "postgresql", "iot_api", "prometheus"} <= pools


def test_dashboard_queries_are_valid_promql(host):
    """Prometheus parses every query of the dashboards the role ships (Grafana variables filled in)."""
    exprs = [target["expr"] for name in ("system.json", "postgresql.json", "iot_api.json")
             for panel in json.loads((DASHBOARDS / name).read_text())["panels"] for target in panel["targets"]]
    assert len(exprs) > 20
    _api_many(host, ["/api/v1/query?query=" + urllib.parse.quote(
        e.replace("$__rate_interval", "1m").replace("$instance", ".*")) for e in exprs])


def test_skips_are_recorded(host):
    fact = json.loads(host.file("/etc/ansible/facts.d/observability.fact").content_string)
    assert fact["grafana"]["installed"] is False
    assert "no apt candidate for package grafana" in fact["grafana"]["skipped_because"]
    assert "observability_grafana_apt_repository" in fact["grafana"]["skipped_because"]
    assert fact["logs"]["shipping"] is False
    assert "fluent-bit" in fact["logs"]["skipped_because"]
    assert fact["prometheus"]["jobs"]["postgresql"] == [f"{HOST}:19187"]
    assert not host.package("grafana").is_installed


def test_journal_is_persistent_and_bounded(host):
    dropin = host.file("/etc/systemd/journald.conf.d/60-dsa-platform.conf")
    assert dropin.mode == 0o644
    assert dropin.contains("^Storage=persistent") and dropin.contains("^SystemMaxUse=1G")
    assert host.file("/var/log/journal").is_directory
    assert host.service("systemd-journald").is_running
