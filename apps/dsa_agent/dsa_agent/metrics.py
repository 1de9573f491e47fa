"""Prometheus metrics of the agent itself (multiprocess-aware under gunicorn)."""
from prometheus_client import Counter, Histogram

REQUESTS = Counter("dsa_agent_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("dsa_agent_http_request_duration_seconds", "HTTP latency", ["route"])
ANALYSES = Counter("dsa_agent_analyses_total", "Analyses finished", ["status"])
FINDINGS = Counter("dsa_agent_findings_total", "Anomalies found", ["kind"])
