"""Helpers for a service's gunicorn configuration module (``gunicorn -c python:MODULE``)."""
import os
import shutil
import tempfile


def bind_address(host: str, port: str | int) -> str:
    """gunicorn's ``bind`` for a host and a port: an IPv6 address goes in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def prometheus_multiprocess_hooks(temp_prefix: str):
    """The server hooks prometheus_client's multiprocess mode needs, for the configuration
    module: ``on_starting, child_exit, on_exit = prometheus_multiprocess_hooks("x-prom-")``.

    The directory must be shared by the workers and known before they import prometheus_client.
    ``on_starting`` (in the master) creates a private one when the operator sets no
    PROMETHEUS_MULTIPROC_DIR, and empties the directory of a previous run's files either way (a
    dead run's counters would be added to the new ones); ``child_exit`` marks a worker dead for
    the live gauges; ``on_exit`` removes the private directory.
    """
    owned = []

    def on_starting(server):
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            owned.append(tempfile.mkdtemp(prefix=temp_prefix))
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = owned[-1]
        directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
        os.makedirs(directory, exist_ok=True)
        for name in os.listdir(directory):
            if name.endswith(".db"):
                os.unlink(os.path.join(directory, name))

    def child_exit(server, worker):
        from prometheus_client import multiprocess
        multiprocess.mark_process_dead(worker.pid)

    def on_exit(server):
        for directory in owned:
            shutil.rmtree(directory, ignore_errors=True)

    return on_starting, child_exit, on_exit
