"""Prometheus metrics. Under gunicorn, PROMETHEUS_MULTIPROC_DIR (set by the gunicorn config
before this module is imported) switches prometheus_client to its multiprocess mode and
/metrics aggregates every worker (the exposition: dsa_service.metrics.render)."""
from dsa_service.metrics import render  # noqa: F401 - the exposition, read through this module
from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter("iot_api_http_requests_total", "HTTP requests handled",
                   ["method", "route", "status"])
LATENCY = Histogram("iot_api_http_request_duration_seconds", "HTTP request latency",
                    ["method", "route", "status"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                             2.5, 5.0, 10.0))
INGESTED = Counter("iot_api_readings_ingested_total",
                   "Readings written to the database", ["route"])
POOL_IN_USE = Gauge("iot_api_db_pool_connections_in_use", "Pooled connections checked out",
                    multiprocess_mode="livesum")
POOL_IDLE = Gauge("iot_api_db_pool_connections_idle", "Pooled connections idle",
                  multiprocess_mode="livesum")
POOL_MAX = Gauge("iot_api_db_pool_connections_max", "Pool size limit",
                 multiprocess_mode="livesum")


_children: dict = {}


def children(method: str, route: str, status: int):
    """The (counter, histogram) children for one label set, looked up once per process."""
    key = (method, route, status)
    pair = _children.get(key)
    if pair is None:
        labels = (method, route, str(status))
        pair = _children[key] = (REQUESTS.labels(*labels), LATENCY.labels(*labels))
    return pair
