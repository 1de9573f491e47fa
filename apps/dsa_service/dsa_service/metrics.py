"""The Prometheus exposition. Under gunicorn, PROMETHEUS_MULTIPROC_DIR (set before the workers
import prometheus_client, see dsa_service.gunicorn) switches prometheus_client to its
multiprocess mode, and the exposition then aggregates every worker's files."""
import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


def render() -> tuple[bytes, str]:
    """The body and content type for GET /metrics."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
