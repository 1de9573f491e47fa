"""gunicorn settings from DSA_AGENT_* (used by ``dsa-agent serve``). One worker process with
threads by default: analyses run in background threads of the process that started them (their
state is in files, so any worker can read them)."""
import os

from dsa_service.gunicorn import bind_address, prometheus_multiprocess_hooks

_env = os.environ.get
bind = bind_address(_env("DSA_AGENT_BIND", "127.0.0.1"), _env("DSA_AGENT_PORT", "8070"))
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
# prometheus_client's multiprocess directory: on_starting, child_exit, on_exit.
on_starting, child_exit, on_exit = prometheus_multiprocess_hooks("dsa-agent-prom-")
