"""The platform's Grafana dashboards as code (grafanalib), written as JSON into ../files/dashboards/.

One definition serves both modes: the host mode's Grafana provisions the JSON files from the role's
files/dashboards/, the Kubernetes mode wraps the same files in ConfigMaps for the Grafana sidecar of
kube-prometheus-stack. The JSON is committed, so the role needs no Python library at run time;
tests/unit/roles/test_dashboards_generator.py fails when the committed files differ from this code.

    python scripts/dashboards.py           # write the JSON files
    python scripts/dashboards.py --check   # exit 1 and name the files that are out of date

Queries avoid `job` names (they differ between the host mode's static jobs and the ServiceMonitor
jobs on Kubernetes): series are selected by metric name and filtered by dashboard variables.
"""
import argparse
import json
import sys
from pathlib import Path

from grafanalib import core as g
from grafanalib._gen import DashboardEncoder

OUT_DIR = Path(__file__).resolve().parent.parent / "files" / "dashboards"
# The datasource uid both modes provision (host: grafana-datasource.yml.j2; Kubernetes: the
# datasource ConfigMap of templates/k8s/grafana.yaml.j2).
DATASOURCE = {"type": "prometheus", "uid": "dsa-prometheus"}
SCHEMA_VERSION = 39
RATE = "[$__rate_interval]"
FS_FILTER = 'fstype!~"tmpfs|overlay|squashfs|ramfs"'


def _targets(queries):
    """queries: [(expr, legend), ...] -> grafanalib Targets A, B, C ... on the platform's datasource."""
    return [g.Target(expr=expr, legendFormat=legend, refId=chr(ord("A") + i), datasource=DATASOURCE)
            for i, (expr, legend) in enumerate(queries)]


def timeseries(title, unit, queries, description=""):
    return g.TimeSeries(title=title, description=description, dataSource=DATASOURCE, targets=_targets(queries),
                        unit=unit, legendDisplayMode="list", legendPlacement="bottom", tooltipMode="multi",
                        tooltipSort="desc", editable=False)


def stat(title, unit, queries, description=""):
    return g.Stat(title=title, description=description, dataSource=DATASOURCE, targets=_targets(queries),
                  format=unit, reduceCalc="lastNotNull", editable=False)


def variable(name, label, query):
    return g.Template(name=name, label=label, query=query, dataSource=DATASOURCE, includeAll=True, multi=True,
                      allValue=".*", refresh=2, sort=1, type="query", default="$__all")


def _layout(panels):
    """Place panels left to right in rows of 24 columns: (panel, width, height) -> panels with gridPos."""
    x = y = row_height = 0
    placed = []
    for panel, width, height in panels:
        if x + width > 24:
            x, y, row_height = 0, y + row_height, 0
        panel.gridPos = g.GridPos(h=height, w=width, x=x, y=y)
        x += width
        row_height = max(row_height, height)
        placed.append(panel)
    return placed


def dashboard(uid, title, description, tags, variables, panels):
    return g.Dashboard(
        uid=uid, title=title, description=description, tags=["dsa-platform"] + tags,
        templating=g.Templating(variables), panels=_layout(panels), editable=False, graphTooltip=1,
        refresh="30s", timezone="browser", schemaVersion=SCHEMA_VERSION, version=1,
        time=g.Time("now-1h", "now"),
    ).auto_panel_ids()


def system():
    sel = 'instance=~"$instance"'
    return dashboard(
        "dsa-system", "dsa.platform / System (node exporter)",
        "Hosts of the platform: CPU, memory, disks and network from the Prometheus node exporter.",
        ["node"], [variable("instance", "Host", "label_values(node_uname_info, instance)")],
        [
            (timeseries("CPU utilisation", "percentunit",
                        [(f'1 - avg by (instance) (rate(node_cpu_seconds_total{{mode="idle",{sel}}}{RATE}))',
                          "{{instance}}")]), 12, 8),
            (timeseries("Load average (1m)", "short", [(f"node_load1{{{sel}}}", "{{instance}}")]), 12, 8),
            (timeseries("Memory available", "percentunit",
                        [(f"node_memory_MemAvailable_bytes{{{sel}}} / node_memory_MemTotal_bytes{{{sel}}}",
                          "{{instance}}")]), 12, 8),
            (timeseries("Filesystem free", "percentunit",
                        [(f"node_filesystem_avail_bytes{{{FS_FILTER},{sel}}} / node_filesystem_size_bytes{{{FS_FILTER},{sel}}}",
                          "{{instance}} {{mountpoint}}")]), 12, 8),
            (timeseries("Network received", "Bps",
                        [(f'sum by (instance) (rate(node_network_receive_bytes_total{{device!="lo",{sel}}}{RATE}))',
                          "{{instance}}")]), 12, 8),
            (timeseries("Network sent", "Bps",
                        [(f'sum by (instance) (rate(node_network_transmit_bytes_total{{device!="lo",{sel}}}{RATE}))',
                          "{{instance}}")]), 12, 8),
            (timeseries("Disk busy", "percentunit",
                        [(f"rate(node_disk_io_time_seconds_total{{{sel}}}{RATE})", "{{instance}} {{device}}")]), 12, 8),
            (timeseries("Open file descriptors", "short",
                        [(f"node_filefd_allocated{{{sel}}}", "{{instance}}")]), 12, 8),
        ])


def postgresql():
    sel = 'instance=~"$instance"'

    def per_instance(metric):
        return f"sum by (instance) (rate({metric}{{{sel}}}{RATE}))"

    return dashboard(
        "dsa-postgresql", "dsa.platform / PostgreSQL (postgres_exporter)",
        "PostgreSQL servers of the platform, from postgres_exporter (a host's package or the database pod's sidecar).",
        ["postgresql"], [variable("instance", "Server", "label_values(pg_up, instance)")],
        [
            (stat("Up", "bool_yes_no", [(f"pg_up{{{sel}}}", "{{instance}}")]), 6, 4),
            (timeseries("Connections by state", "short",
                        [(f"sum by (instance, state) (pg_stat_activity_count{{{sel}}})", "{{instance}} {{state}}")]),
             18, 8),
            (timeseries("Connections used of max_connections", "percentunit",
                        [(f"sum by (instance) (pg_stat_activity_count{{{sel}}}) / "
                          f"max by (instance) (pg_settings_max_connections{{{sel}}})", "{{instance}}")]), 12, 8),
            (timeseries("Transactions", "ops",
                        [(per_instance("pg_stat_database_xact_commit"), "{{instance}} commit"),
                         (per_instance("pg_stat_database_xact_rollback"), "{{instance}} rollback")]), 12, 8),
            (timeseries("Rows written", "rowsps",
                        [(per_instance("pg_stat_database_tup_inserted"), "{{instance}} inserted"),
                         (per_instance("pg_stat_database_tup_updated"), "{{instance}} updated"),
                         (per_instance("pg_stat_database_tup_deleted"), "{{instance}} deleted")]), 12, 8),
            (timeseries("Buffer cache hit ratio", "percentunit",
                        [(f"{per_instance('pg_stat_database_blks_hit')} / ({per_instance('pg_stat_database_blks_hit')}"
                          f" + {per_instance('pg_stat_database_blks_read')})", "{{instance}}")]), 12, 8),
            (timeseries("Database size", "bytes",
                        [(f"pg_database_size_bytes{{{sel}}}", "{{instance}} {{datname}}")]), 12, 8),
            (timeseries("Deadlocks and conflicts", "ops",
                        [(per_instance("pg_stat_database_deadlocks"), "{{instance}} deadlocks"),
                         (per_instance("pg_stat_database_conflicts"), "{{instance}} conflicts")]), 12, 8),
        ])


def iot_api():
    sel = 'instance=~"$instance"'
    requests = f"iot_api_http_requests_total{{{sel}}}"
    buckets = f"iot_api_http_request_duration_seconds_bucket{{{sel}}}"

    def quantile(q, by="le"):
        return f"histogram_quantile({q}, sum by ({by}) (rate({buckets}{RATE})))"

    return dashboard(
        "dsa-iot-api", "dsa.platform / IoT API",
        "The IoT REST API: request rate, errors and latency per instance (a gunicorn instance behind nginx on "
        "a host, a pod on Kubernetes), from the API's own /metrics.",
        ["iot_api"], [variable("instance", "Instance", "label_values(iot_api_http_requests_total, instance)")],
        [
            (timeseries("Requests by status", "reqps",
                        [(f"sum by (status) (rate({requests}{RATE}))", "{{status}}")]), 12, 8),
            (timeseries("5xx ratio", "percentunit",
                        [(f'sum(rate(iot_api_http_requests_total{{status=~"5..",{sel}}}{RATE})) / '
                          f"sum(rate({requests}{RATE}))", "5xx")]), 12, 8),
            (timeseries("Latency p50 / p95 / p99", "s",
                        [(quantile(0.5), "p50"), (quantile(0.95), "p95"), (quantile(0.99), "p99")]), 12, 8),
            (timeseries("p95 latency by route", "s", [(quantile(0.95, "route, le"), "{{route}}")]), 12, 8),
            (timeseries("Requests by route", "reqps",
                        [(f"sum by (method, route) (rate({requests}{RATE}))", "{{method}} {{route}}")]), 12, 8),
            (timeseries("Readings ingested", "short",
                        [(f"sum by (route) (rate(iot_api_readings_ingested_total{{{sel}}}{RATE}))", "{{route}}")]),
             12, 8),
            (timeseries("Database pool", "short",
                        [(f"sum(iot_api_db_pool_connections_in_use{{{sel}}})", "in use"),
                         (f"sum(iot_api_db_pool_connections_idle{{{sel}}})", "idle"),
                         (f"sum(iot_api_db_pool_connections_max{{{sel}}})", "max")]), 12, 8),
            # `up` of exactly the targets that expose the API's metrics, whatever their job is called.
            (timeseries("Instances up", "bool_yes_no",
                        [(f"up{{{sel}}} and on (instance) group by (instance) (iot_api_http_requests_total)",
                          "{{instance}}")]), 12, 8),
        ])


def nginx_ingress():
    sel = 'ingress=~"$ingress"'
    requests = f"nginx_ingress_controller_requests{{{sel}}}"

    def quantile(q, metric="nginx_ingress_controller_request_duration_seconds_bucket"):
        return f"histogram_quantile({q}, sum by (le) (rate({metric}{{{sel}}}{RATE})))"

    return dashboard(
        "dsa-nginx-ingress", "dsa.platform / NGINX ingress",
        "Requests through the ingress-nginx controller in front of the IoT API: rate, errors, latency "
        "(nginx_ingress_controller_* metrics, controller started with --enable-metrics).",
        ["ingress", "nginx"], [variable("ingress", "Ingress", "label_values(nginx_ingress_controller_requests, ingress)")],
        [
            (timeseries("Requests by ingress", "reqps",
                        [(f"sum by (namespace, ingress) (rate({requests}{RATE}))", "{{namespace}}/{{ingress}}")]),
             12, 8),
            (timeseries("Requests by status", "reqps",
                        [(f"sum by (status) (rate({requests}{RATE}))", "{{status}}")]), 12, 8),
            (timeseries("4xx and 5xx ratio", "percentunit",
                        [(f'sum(rate(nginx_ingress_controller_requests{{status=~"4..",{sel}}}{RATE})) / '
                          f"sum(rate({requests}{RATE}))", "4xx"),
                         (f'sum(rate(nginx_ingress_controller_requests{{status=~"5..",{sel}}}{RATE})) / '
                          f"sum(rate({requests}{RATE}))", "5xx")]), 12, 8),
            (timeseries("Request latency p50 / p95 / p99", "s",
                        [(quantile(0.5), "p50"), (quantile(0.95), "p95"), (quantile(0.99), "p99")]), 12, 8),
            (timeseries("Upstream response time p95", "s",
                        [(quantile(0.95, "nginx_ingress_controller_response_duration_seconds_bucket"), "p95")]),
             12, 8),
            (timeseries("Response bytes", "Bps",
                        [(f"sum(rate(nginx_ingress_controller_response_size_sum{{{sel}}}{RATE}))", "sent")]), 12, 8),
            (timeseries("Connections", "short",
                        [("sum by (state) (nginx_ingress_controller_nginx_process_connections)", "{{state}}")]),
             12, 8),
            (stat("Last configuration reload successful", "bool_yes_no",
                  [("min(nginx_ingress_controller_config_last_reload_successful)", "reload")]), 12, 8),
        ])


def k6():
    sel = 'scenario=~"$scenario"'
    return dashboard(
        "dsa-k6", "dsa.platform / k6 load tests",
        "k6 runs streamed to Prometheus with k6's remote-write output: `k6 run -o experimental-prometheus-rw` "
        "with K6_PROMETHEUS_RW_SERVER_URL=<prometheus>/api/v1/write and "
        "K6_PROMETHEUS_RW_TREND_STATS=p(95),p(99),avg (Prometheus must accept remote writes). "
        "The benchmark playbook's reports come from k6's summary files, not from this dashboard; "
        "without a remote-write run it stays empty.",
        ["k6", "benchmark"], [variable("scenario", "Scenario", "label_values(k6_http_reqs_total, scenario)")],
        [
            (timeseries("Request rate", "reqps",
                        [(f"sum by (scenario) (rate(k6_http_reqs_total{{{sel}}}{RATE}))", "{{scenario}}")]), 12, 8),
            (timeseries("Failed requests", "percentunit",
                        [(f"avg by (scenario) (k6_http_req_failed_rate{{{sel}}})", "{{scenario}}")]), 12, 8),
            (timeseries("Request duration p95 / p99 / avg", "s",
                        [(f"max by (scenario) (k6_http_req_duration_p95{{{sel}}})", "{{scenario}} p95"),
                         (f"max by (scenario) (k6_http_req_duration_p99{{{sel}}})", "{{scenario}} p99"),
                         (f"avg by (scenario) (k6_http_req_duration_avg{{{sel}}})", "{{scenario}} avg")]), 12, 8),
            (timeseries("Virtual users", "short",
                        [("sum(k6_vus)", "active"), ("sum(k6_vus_max)", "allocated")]), 12, 8),
            (timeseries("Iterations", "ops",
                        [(f"sum by (scenario) (rate(k6_iterations_total{{{sel}}}{RATE}))", "{{scenario}}")]), 12, 8),
            (timeseries("Checks passed", "percentunit",
                        [(f"avg by (scenario) (k6_checks_rate{{{sel}}})", "{{scenario}}")]), 12, 8),
            (timeseries("Data sent and received", "Bps",
                        [(f"sum(rate(k6_data_sent_total{{{sel}}}{RATE}))", "sent"),
                         (f"sum(rate(k6_data_received_total{{{sel}}}{RATE}))", "received")]), 24, 8),
        ])


# File name -> builder. The role ships exactly these files (vars/main.yml _observability_dashboards).
DASHBOARDS = {
    "system.json": system,
    "postgresql.json": postgresql,
    "iot_api.json": iot_api,
    "nginx_ingress.json": nginx_ingress,
    "k6.json": k6,
}


def render(builder):
    """The JSON text of one dashboard, stable across runs (sorted keys, fixed indentation)."""
    data = json.loads(json.dumps(builder().to_json_data(), cls=DashboardEncoder))
    for var in data["templating"]["list"]:
        # Grafana shows a query variable's query from `definition`; grafanalib leaves it out.
        var["definition"] = var["query"]
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 when a file is out of date")
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    stale = []
    for name, builder in DASHBOARDS.items():
        path = args.out_dir / name
        text = render(builder)
        if path.exists() and path.read_text() == text:
            continue
        stale.append(name)
        if not args.check:
            path.write_text(text)
    if args.check and stale:
        print("out of date (run scripts/dashboards.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    for name in stale:
        print(f"wrote {args.out_dir / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
