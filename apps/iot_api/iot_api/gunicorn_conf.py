"""gunicorn settings from the environment (``IOT_API_*``); used by ``iot-api serve``.

The defaults are the worker class and count chosen by measurement on the 2-core build machine
(see docs/benchmarks.md). Under ``gevent`` every worker makes psycopg2 cooperative (psycogreen's
wait callback) right after the fork, so a request waiting on PostgreSQL lets the others run;
``db.copy_in`` lifts the callback for COPY, which psycopg2 refuses in that mode.
"""
import os

from dsa_service.gunicorn import prometheus_multiprocess_hooks

_env = os.environ.get

bind = _env("IOT_API_BIND", "127.0.0.1:8000")
workers = int(_env("IOT_API_WORKERS", str(max(2, os.cpu_count() or 1))))
worker_class = _env("IOT_API_WORKER_CLASS", "gthread")
threads = int(_env("IOT_API_THREADS", "4"))
timeout = int(_env("IOT_API_WORKER_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = int(_env("IOT_API_KEEPALIVE", "30"))
backlog = 2048
accesslog = None          # the app writes structured JSON access logs itself
errorlog = "-"
loglevel = _env("IOT_API_LOG_LEVEL", "info").lower()
preload_app = False
proc_name = "iot-api"

# prometheus_client's multiprocess directory: on_starting, child_exit, on_exit (preload_app is
# off, so the master never imports prometheus_client).
on_starting, child_exit, on_exit = prometheus_multiprocess_hooks("iot-api-prom-")


WORKER_CLASSES = ("gevent", "gthread", "sync")
if worker_class not in WORKER_CLASSES:
    raise RuntimeError(f"IOT_API_WORKER_CLASS must be one of {', '.join(WORKER_CLASSES)},"
                       f" not {worker_class!r}")
# greenlets per gevent worker; more would only queue for the pool's connections
worker_connections = int(_env("IOT_API_WORKER_CONNECTIONS", "1000"))


def post_fork(server, worker):
    if worker_class == "gevent":
        from psycogreen.gevent import patch_psycopg
        patch_psycopg()
