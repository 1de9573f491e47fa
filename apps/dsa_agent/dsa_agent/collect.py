"""The analyst's deterministic part: query every signal of the chosen targets, detect anomalies,
and measure the load the suggestion rules need. No language model is involved."""
import re
import time

from . import detect as det
from .tools import SourceError, benchmarks, logs, platform, prometheus

TARGETS = ("iot_api", "postgresql", "node", "prometheus")
_OPS = 'route!~"/metrics|/healthz|/readyz"'
_WINDOW = re.compile(r"^([1-9][0-9]*)([smh])$")
MIN_WINDOW_S, MAX_WINDOW_S = 30, 24 * 3600


def parse_window(text: str) -> int:
    """'15m' -> 900. Raises ValueError naming the rule."""
    m = _WINDOW.match(str(text).strip()) if text is not None else None
    if not m:
        raise ValueError("window must be a number and a unit s, m or h (e.g. 90s, 15m, 2h)")
    seconds = int(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)]
    if not MIN_WINDOW_S <= seconds <= MAX_WINDOW_S:
        raise ValueError(f"window must be between {MIN_WINDOW_S}s and 24h, got {text}")
    return seconds


def signals(rw: str) -> dict:
    """target -> [(name, kind, PromQL)]; ``rw`` is the rate() window."""
    return {
        "iot_api": [
            ("iot_api error rate", "error_rate",
             # `or vector(0)`: no 5xx series at all is an error rate of 0, not a gap
             f'(sum(rate(iot_api_http_requests_total{{status=~"5..",{_OPS}}}[{rw}]))'
             f' or vector(0)) / sum(rate(iot_api_http_requests_total{{{_OPS}}}[{rw}]))'),
            ("iot_api p95 latency", "latency",
             "histogram_quantile(0.95, sum by (le) (rate("
             f"iot_api_http_request_duration_seconds_bucket{{{_OPS}}}[{rw}])))"),
            ("iot_api throughput", "throughput",
             f"sum(rate(iot_api_http_requests_total{{{_OPS}}}[{rw}]))"),
            # a saturated API also fails its scrapes: the share of instances not scraped
            ("iot_api scrape failures", "error_rate",
             f'1 - avg(avg_over_time(up{{job="iot_api"}}[{rw}]))'),
        ],
        "postgresql": [
            ("postgresql connections", "resource", "sum(pg_stat_activity_count)"),
        ],
        "node": [
            ("node cpu utilisation", "resource",
             f'1 - avg by (instance) (rate(node_cpu_seconds_total{{mode="idle"}}[{rw}]))'),
        ],
        "prometheus": [
            ("scrape targets down", "error_rate", "1 - avg(up)"),
        ],
    }


def _steps(window_s: int) -> tuple[float, str]:
    step = max(1.0, round(window_s / 300.0))
    rw = f"{int(max(5, 4 * step))}s"
    return step, rw


def collect(settings, window_s: int, targets: list[str] | None = None,
            end: float | None = None) -> dict:
    targets = list(targets or TARGETS)
    end = end or time.time()
    start = end - window_s
    step, rw = _steps(window_s)
    url, t = settings.prometheus_url, settings.source_timeout
    # rate() spreads one short blip over rate_window/step points, and a shared host has blips
    # of a few seconds: a finding must last two rate windows (10 s at 1 s steps).
    params = det.Params(min_points=max(3, 2 * int(int(rw[:-1]) / step)))
    out = {"window": {"start": start, "end": end, "seconds": window_s, "step": step,
                      "rate_window": rw},
           "targets": targets, "findings": [], "series": [], "load": {}, "errors": [],
           "notes": [], "k6_runs": [], "logs": None, "platform": None}
    if not url:
        out["errors"].append("prometheus: not configured (DSA_AGENT_PROMETHEUS_URL)")
    else:
        prom_ok = True
        for target in targets:
            for name, kind, expr in signals(rw)[target]:
                if not prom_ok:
                    break
                try:
                    res = prometheus.query_range(url, expr, start, end, step, t)
                except SourceError as e:
                    out["errors"].append(str(e))
                    prom_ok = "unreachable" not in str(e) and "did not answer" not in str(e)
                    continue
                for r in res:
                    label = name + "".join(f" {k}={v}" for k, v in sorted(r["metric"].items()))
                    out["series"].append({"name": label, "kind": kind, "query": expr,
                                          "points": r["points"]})
                    for f in det.detect(r["points"], kind, label, expr, params,
                                        labels=r["metric"], step=step):
                        out["findings"].append(f.as_dict())
        if prom_ok and "iot_api" in targets:
            out["load"] = _load(url, rw, start, end, step, t, out["errors"])
    for i, f in enumerate(out["findings"], 1):
        f["id"] = f"f{i}"
    if settings.results_dir:
        try:
            k6 = benchmarks.results(settings.results_dir)
            out["k6_runs"] = k6["runs"]
            out["notes"] += k6["errors"]
        except SourceError as e:
            out["errors"].append(str(e))
    else:
        out["notes"].append("k6 results: not configured (DSA_AGENT_RESULTS_DIR)")
    if out["findings"]:
        try:
            out["logs"] = logs.search(settings, "error", window_s, 50)
        except SourceError as e:
            out["notes"].append(str(e))
    try:
        out["platform"] = platform.state(settings)
    except SourceError as e:
        out["errors"].append(str(e))
    return out


def _scalar_avg(url, expr, start, end, step, t, errors) -> float | None:
    try:
        res = prometheus.query_range(url, expr, start, end, step, t)
    except SourceError as e:
        errors.append(str(e))
        return None
    vals = [v for r in res for _, v in r["points"]]
    return sum(vals) / len(vals) if vals else None


def _load(url, rw, start, end, step, t, errors) -> dict:
    q_rate = f"sum(rate(iot_api_http_requests_total{{{_OPS}}}[{rw}]))"
    q_lat = (f"sum(rate(iot_api_http_request_duration_seconds_sum{{{_OPS}}}[{rw}]))"
             f" / sum(rate(iot_api_http_request_duration_seconds_count{{{_OPS}}}[{rw}]))")
    q_inst = ("histogram_quantile(0.95, sum by (le, instance) (rate("
              f"iot_api_http_request_duration_seconds_bucket{{{_OPS}}}[{rw}])))")
    q_pool = "max by (instance) (iot_api_db_pool_connections_in_use)"
    load = {"arrival_rate_query": q_rate, "mean_latency_query": q_lat,
            "p95_by_instance_query": q_inst, "pool_query": q_pool,
            "arrival_rate": _scalar_avg(url, q_rate, start, end, step, t, errors),
            "mean_latency_s": _scalar_avg(url, q_lat, start, end, step, t, errors)}
    try:
        per = prometheus.query_range(url, q_inst, start, end, step, t)
        load["p95_by_instance"] = {
            r["metric"].get("instance", "?"): sorted(v for _, v in r["points"])[
                len(r["points"]) // 2] for r in per if r["points"]}
        pool = prometheus.query_range(url, q_pool, start, end, step, t)
        load["pool_in_use_max"] = max((v for r in pool for _, v in r["points"]), default=None)
        pmax = prometheus.query(url, "max(iot_api_db_pool_connections_max)", end, t)
        load["pool_max"] = pmax[0]["value"] if pmax else None
        # the hosts' cores and CPU use (node exporter), for the workers rule
        cores = prometheus.query(url, 'max(count by (instance) (node_cpu_seconds_total{mode="idle"}))',
                                 end, t)
        load["cores"] = int(cores[0]["value"]) if cores and cores[0]["value"] else None
        load["cpu_query"] = f'1 - avg(rate(node_cpu_seconds_total{{mode="idle"}}[{rw}]))'
        load["host_cpu_utilisation"] = _scalar_avg(url, load["cpu_query"], start, end, step, t,
                                                   errors)
        thr = prometheus.query_range(url, q_rate, start, end, step, t)
        load["throughput_points"] = thr[0]["points"] if thr else []
    except SourceError as e:
        errors.append(str(e))
    return load
