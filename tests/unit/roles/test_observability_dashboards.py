"""The Grafana dashboards the observability role ships: valid JSON dashboards on the provisioned
datasource, querying only metrics that exist (node exporter, postgres_exporter, the IoT API)."""
import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[3]
ROLE = ROOT / "roles" / "observability"
DASHBOARDS = sorted((ROLE / "files" / "dashboards").glob("*.json"))
ROLE_VARS = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())

# The IoT API's own metric names, read from its source: the dashboards must follow renames.
_METRICS_SRC = (ROOT / "apps" / "iot_api" / "iot_api" / "metrics.py").read_text()
API_METRICS = set()
for kind, name in re.findall(r'\b(Counter|Gauge|Histogram)\(\s*"([a-z_:]+)"', _METRICS_SRC):
    base = name[:-len("_total")] if name.endswith("_total") else name
    API_METRICS |= {"Counter": {base + "_total"}, "Gauge": {name},
                    "Histogram": {name + "_bucket", name + "_sum", name + "_count"}}[kind]

# node_exporter 1.5 and postgres_exporter 0.11 (Debian 12) metrics the dashboards use.
EXPORTER_METRICS = {
    "up", "node_cpu_seconds_total", "node_load1", "node_memory_MemAvailable_bytes", "node_memory_MemTotal_bytes",
    "node_filesystem_avail_bytes", "node_filesystem_size_bytes", "node_network_receive_bytes_total",
    "node_network_transmit_bytes_total", "node_disk_io_time_seconds_total", "node_filefd_allocated", "node_uname_info",
    "pg_up", "pg_stat_activity_count", "pg_settings_max_connections", "pg_stat_database_xact_commit",
    "pg_stat_database_xact_rollback", "pg_stat_database_tup_inserted", "pg_stat_database_tup_updated",
    "pg_stat_database_tup_deleted", "pg_stat_database_blks_hit", "pg_stat_database_blks_read",
    "pg_database_size_bytes", "pg_stat_database_deadlocks", "pg_stat_database_conflicts",
}
# ingress-nginx controller (--enable-metrics) and k6's Prometheus remote-write output
# (K6_PROMETHEUS_RW_TREND_STATS=p(95),p(99),avg) metrics.
EXPORTER_METRICS |= {
    "nginx_ingress_controller_requests", "nginx_ingress_controller_request_duration_seconds_bucket",
    "nginx_ingress_controller_response_duration_seconds_bucket", "nginx_ingress_controller_response_size_sum",
    "nginx_ingress_controller_nginx_process_connections", "nginx_ingress_controller_config_last_reload_successful",
    "k6_http_reqs_total", "k6_http_req_failed_rate", "k6_http_req_duration_p95", "k6_http_req_duration_p99",
    "k6_http_req_duration_avg", "k6_vus", "k6_vus_max", "k6_iterations_total", "k6_checks_rate",
    "k6_data_sent_total", "k6_data_received_total",
}
PROMQL_WORDS = {"sum", "avg", "max", "min", "by", "rate", "histogram_quantile", "label_values", "or", "and",
                "le", "instance", "job", "mode", "on", "group", "ingress", "namespace", "scenario", "idle", "fstype", "device", "status", "route", "method",
                "state", "datname", "mountpoint", "lo", "tmpfs", "overlay", "squashfs", "ramfs"}


def _metrics(expr):
    expr = re.sub(r'"[^"]*"', '""', expr)        # label values
    expr = re.sub(r"\[[^\]]*\]", "", expr)        # range selectors
    expr = re.sub(r"\$\w+", "", expr)             # Grafana variables
    return {word for word in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr)} - PROMQL_WORDS


def _targets(dashboard):
    return [t for panel in dashboard["panels"] for t in panel.get("targets", [])]


def test_the_role_installs_every_dashboard_file():
    assert sorted(ROLE_VARS["_observability_dashboards"]) == sorted(p.name for p in DASHBOARDS)
    assert {"system.json", "postgresql.json", "iot_api.json", "nginx_ingress.json", "k6.json"} <= {p.name for p in DASHBOARDS}


def test_api_metric_names_come_from_the_source():
    assert {"iot_api_http_requests_total", "iot_api_http_request_duration_seconds_bucket"} <= API_METRICS


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_is_a_grafana_dashboard(path):
    dashboard = json.loads(path.read_text())
    assert dashboard["title"] and dashboard["uid"] and len(dashboard["uid"]) <= 40
    assert isinstance(dashboard["schemaVersion"], int)
    assert dashboard["panels"], "no panels"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["title"] and panel["type"] in {"timeseries", "stat", "gauge", "table"}
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"} and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        assert panel["targets"], f"panel {panel['title']!r} has no query"
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs))


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_uses_the_provisioned_datasource(path):
    uid = ROLE_VARS["_observability_grafana_datasource_uid"]
    dashboard = json.loads(path.read_text())
    for panel in dashboard["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": uid}
        assert all(t["datasource"]["uid"] == uid for t in panel["targets"])
    for variable in dashboard["templating"]["list"]:
        assert variable["datasource"]["uid"] == uid


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_queries_only_metrics_that_exist(path):
    dashboard = json.loads(path.read_text())
    exprs = [t["expr"] for t in _targets(dashboard)]
    exprs += [v["definition"] for v in dashboard["templating"]["list"]]
    unknown = set().union(*(_metrics(e) for e in exprs)) - EXPORTER_METRICS - API_METRICS
    assert not unknown, f"{path.name}: unknown metrics {sorted(unknown)}"
    assert all(e.count("(") == e.count(")") and e.count("{") == e.count("}") for e in exprs)


def test_dashboard_uids_are_unique():
    uids = [json.loads(p.read_text())["uid"] for p in DASHBOARDS]
    assert len(uids) == len(set(uids))
