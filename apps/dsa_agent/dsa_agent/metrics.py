"""Prometheus metrics of the agent itself (multiprocess-aware under gunicorn)."""
import os

from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram,
                               generate_latest)

REQUESTS = Counter("dsa_agent_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("dsa_agent_http_request_duration_seconds", "HTTP latency", ["route"])
ANALYSES = Counter("dsa_agent_analyses_total", "Analyses finished", ["status"])
FINDINGS = Counter("dsa_agent_findings_total", "Anomalies found", ["kind"])


def render():
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess
        reg = CollectorRegistry()
        multiprocess.MultiProcessCollector(reg)
        return generate_latest(reg), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
