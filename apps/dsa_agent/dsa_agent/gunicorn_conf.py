"""gunicorn settings from DSA_AGENT_* (used by ``dsa-agent serve``). One worker process with
threads by default: analyses run in background threads of the process that started them (their
state is in files, so any worker can read them)."""
import os
import shutil
import tempfile

_env = os.environ.get
_host = _env("DSA_AGENT_BIND", "127.0.0.1")
bind = f"[{_host}]:{_env('DSA_AGENT_PORT', '8070')}" if ":" in _host else \
    f"{_host}:{_env('DSA_AGENT_PORT', '8070')}"
workers = int(_env("DSA_AGENT_WORKERS", "2"))
worker_class = "gthread"
threads = 4
# A request may wait for a language model: its time-out plus the data sources.
timeout = int(float(_env("DSA_AGENT_LLM_TIMEOUT", "60"))) + 30
graceful_timeout = 20
accesslog = None
errorlog = "-"
loglevel = _env("DSA_AGENT_LOG_LEVEL", "info").lower()
proc_name = "dsa-agent"
_owned = None


def on_starting(server):
    global _owned
    if not _env("PROMETHEUS_MULTIPROC_DIR"):
        _owned = tempfile.mkdtemp(prefix="dsa-agent-prom-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = _owned


def child_exit(server, worker):
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _owned:
        shutil.rmtree(_owned, ignore_errors=True)
