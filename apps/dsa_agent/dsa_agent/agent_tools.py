"""The tools the language-model agents call: plain typed functions over the data sources,
bound to the configured URLs. A failing source returns ``{"error": ...}`` so the model sees
why instead of the run stopping."""
import functools
import time

from . import detect as det
from .tools import SourceError, benchmarks, logs, platform, prometheus


def make_tools(settings) -> list:
    url, t = settings.prometheus_url, settings.source_timeout

    def guard(fn):
        @functools.wraps(fn)
        def wrapper(*a, **kw):
            try:
                return fn(*a, **kw)
            except (SourceError, ValueError) as e:
                return {"error": str(e)}
        return wrapper

    @guard
    def prometheus_query(expr: str) -> list | dict:
        """Run an instant PromQL query now; returns [{metric, value}]."""
        return prometheus.query(url, expr, time.time(), t)

    @guard
    def prometheus_range(expr: str, minutes: int = 15, step_s: int = 15) -> list | dict:
        """Run a PromQL range query over the last `minutes` at `step_s`; returns series."""
        end = time.time()
        return prometheus.query_range(url, expr, end - 60 * minutes, end, step_s, t)

    @guard
    def prometheus_targets() -> list | dict:
        """List the scrape targets with their health and last error."""
        return prometheus.targets(url, t)

    @guard
    def prometheus_alerts() -> list | dict:
        """List the pending and firing alerts."""
        return prometheus.alerts(url, t)

    @guard
    def detect_anomalies(expr: str, kind: str, minutes: int = 15) -> list | dict:
        """Run the robust detector (median/MAD, EWMA, CUSUM) on a PromQL series.
        kind is one of latency, error_rate, throughput, resource."""
        end = time.time()
        step = max(1, minutes * 60 // 300)
        found = []
        for r in prometheus.query_range(url, expr, end - 60 * minutes, end, step, t):
            found += [f.as_dict() for f in det.detect(r["points"], kind, expr, expr,
                                                      labels=r["metric"], step=step)]
        return found

    @guard
    def search_logs(text: str = "error", minutes: int = 15) -> dict:
        """Search the platform's logs (Loki, Elasticsearch or the systemd journal)."""
        return logs.search(settings, text, minutes * 60, 50)

    @guard
    def platform_state() -> dict:
        """Cluster state (nodes, pods, restarts, events, HPA) or the hosts and targets."""
        return platform.state(settings)

    @guard
    def k6_results() -> dict:
        """The k6 benchmark runs: latency percentiles, offered vs achieved rate, failures."""
        return benchmarks.results(settings.results_dir)

    return [prometheus_query, prometheus_range, prometheus_targets, prometheus_alerts,
            detect_anomalies, search_logs, platform_state, k6_results]


def for_model(tools: list) -> list:
    """The same tools answering JSON text, which is what a model reads in a tool message."""
    import json

    def wrap(fn):
        @functools.wraps(fn)
        def as_json(*a, **kw):
            return json.dumps(fn(*a, **kw), default=str)
        return as_json
    return [wrap(t) for t in tools]
