"""gunicorn settings from the environment (``IOT_API_*``); used by ``iot-api serve``.

The defaults are the worker class and count chosen by measurement on the 2-core build machine
(see docs/benchmarks.md). Under ``gevent`` every worker makes psycopg2 cooperative (psycogreen's
wait callback) right after the fork, so a request waiting on PostgreSQL lets the others run;
``db.copy_in`` lifts the callback for COPY, which psycopg2 refuses in that mode.
"""
import os
import shutil
import tempfile

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

# prometheus_client's multiprocess mode needs a directory shared by the workers and known before
# they import the app (preload_app is off, so the master never imports prometheus_client).
# on_starting creates a private one when the operator sets none, and on_exit removes it.
_owned_prom_dir = None


def on_starting(server):
    global _owned_prom_dir
    if not _env("PROMETHEUS_MULTIPROC_DIR"):
        _owned_prom_dir = tempfile.mkdtemp(prefix="iot-api-prom-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = _owned_prom_dir
    d = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(d, exist_ok=True)
    for name in os.listdir(d):
        if name.endswith(".db"):
            os.unlink(os.path.join(d, name))


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


def child_exit(server, worker):
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _owned_prom_dir:
        shutil.rmtree(_owned_prom_dir, ignore_errors=True)
