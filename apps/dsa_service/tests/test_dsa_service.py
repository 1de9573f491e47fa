"""The shared plumbing as the services use it: settings from a prefixed environment, JSON log
lines, problem+json answers from a real Flask app (with a real rate limiter), API key checks,
and the gunicorn hooks under a real gunicorn master."""
import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field

import pytest
from flask import Flask, g
from flask_limiter import Limiter

from dsa_service import keys, logs, problems, settings
from dsa_service.gunicorn import bind_address
from service_testing import http_ok, wait_until


@dataclass
class Demo:
    port: int = 8000
    ratio: float = 0.5
    debug: bool = False
    origins: list[str] = field(default_factory=list)
    name: str = "demo"


def test_settings_typed_from_the_prefixed_environment_and_overrides():
    env = {"DEMO_PORT": "9000", "DEMO_DEBUG": "yes", "DEMO_ORIGINS": "https://a, ,https://b",
           "DEMO_RATIO": "0.25", "PORT": "1", "OTHER_NAME": "x"}
    s = settings.load(Demo, "DEMO_", {"DEMO_NAME": "from-override", "ratio": 2}, environ=env)
    assert s == Demo(port=9000, ratio=2.0, debug=True, origins=["https://a", "https://b"],
                     name="from-override")
    assert settings.load(Demo, "DEMO_", environ={}) == Demo()
    assert settings.load(Demo, "DEMO_", {"debug": "off"}, environ={"DEMO_DEBUG": "on"}).debug is False


@pytest.mark.parametrize("env, overrides, message", [
    ({"DEMO_PORT": "eighty"}, None, "DEMO_PORT must be a number, got 'eighty'"),
    ({"DEMO_PORT": "80.5"}, None, "DEMO_PORT must be a number, got '80.5'"),
    ({}, {"ratio": "half"}, "DEMO_RATIO must be a number, got 'half'"),
    ({"DEMO_DEBUG": "maybe"}, None, "DEMO_DEBUG must be a boolean (true/false, yes/no, on/off, 1/0), got 'maybe'"),
    ({}, {"colour": "red"}, "unknown setting DEMO_COLOUR"),
])
def test_a_bad_setting_names_its_variable(env, overrides, message):
    with pytest.raises(ValueError) as exc:
        settings.load(Demo, "DEMO_", overrides, environ=env)
    assert str(exc.value) == message


def test_json_log_lines_carry_the_fields_and_the_trace():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("dsa_service_test.formatter")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logger.error("failed %s", "here", exc_info=True, extra={"request_id": "r-1"})
    line = json.loads(stream.getvalue())
    assert line["level"] == "ERROR" and line["logger"] == "dsa_service_test.formatter"
    assert line["msg"] == "failed here" and line["request_id"] == "r-1"
    assert "RuntimeError: boom" in line["exc"]
    assert line["ts"].endswith("Z") and len(line["ts"]) == len("2026-01-01T00:00:00.000Z")


def test_access_log_writes_one_json_object_per_line_under_its_logger():
    stream = io.StringIO()
    access = logs.AccessLog("svc.access", stream)
    access.write({"status": 200, "path": "/x"})
    access.write({"status": 404, "path": "/y"})
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["logger"] == "svc.access" and first["status"] == 200 and second["path"] == "/y"
    assert list(first) == ["ts", "logger", "status", "path"]


def test_setup_adds_one_handler_and_changes_the_level():
    logs.setup("dsa_service_test.setup", "info")
    logs.setup("dsa_service_test.setup", "warning")
    logger = logging.getLogger("dsa_service_test.setup")
    assert len(logger.handlers) == 1 and logger.level == logging.WARNING and not logger.propagate


def _app() -> Flask:
    app = Flask("dsa_service_test")
    log = logging.getLogger("dsa_service_test.app")

    @app.before_request
    def _rid():
        g.request_id = "rid-1"
        keys_scope = keys.required_scope()
        if keys_scope is not None:
            keys.check(keys_scope, "demo", {"good": {"id": 1, "scope": "read"}}.get,
                       lambda entry, needed: entry["scope"] == needed)

    limiter = Limiter(key_func=lambda: "one", default_limits=["2/minute"],
                      storage_uri="memory://", strategy="fixed-window")
    limiter.init_app(app)
    app.extensions["demo_limiter"] = limiter
    problems.register(app, log, "demo_limiter")

    @app.get("/conflict")
    @limiter.exempt
    def conflict():
        raise problems.ApiError(409, "already there", [{"field": "id", "message": "taken"}],
                                headers={"ETag": '"1"'})

    @app.get("/crash")
    @limiter.exempt
    def crash():
        raise KeyError("secret internals")

    @app.post("/only-post")
    @limiter.exempt
    def only_post():
        return "ok"

    @app.get("/limited")
    def limited():
        return "ok"

    @app.get("/read")
    @keys.require("read")
    @limiter.exempt
    def read():
        return {"key": g.api_key["id"]}

    @app.get("/write")
    @keys.require("write")
    @limiter.exempt
    def write():
        return "ok"
    return app


def test_problem_bodies_and_headers():
    client = _app().test_client()
    r = client.get("/conflict")
    assert r.status_code == 409 and r.mimetype == problems.PROBLEM and r.headers["ETag"] == '"1"'
    assert r.get_json() == {"type": "about:blank", "title": "Conflict", "status": 409,
                            "detail": "already there", "instance": "/conflict",
                            "request_id": "rid-1", "errors": [{"field": "id", "message": "taken"}]}
    r = client.get("/nowhere")
    assert r.status_code == 404 and r.get_json()["title"] == "Not Found"
    r = client.get("/only-post")
    assert r.status_code == 405 and r.headers["Allow"] in ("POST, OPTIONS", "OPTIONS, POST")


def test_an_unexpected_error_is_a_500_without_the_trace_and_logged_with_it(caplog):
    r = _app().test_client().get("/crash")
    assert r.status_code == 500
    assert "secret internals" not in r.get_data(as_text=True)
    assert r.get_json()["detail"] == "internal error; quote the request id when reporting it"
    (record,) = [x for x in caplog.records if x.name == "dsa_service_test.app"]
    assert record.request_id == "rid-1" and "secret internals" in str(record.exc_info[1])


def test_rate_limit_is_a_429_with_retry_after_until_the_window_resets():
    client = _app().test_client()
    assert [client.get("/limited").status_code for _ in range(2)] == [200, 200]
    r = client.get("/limited")
    assert r.status_code == 429 and r.mimetype == problems.PROBLEM
    assert 1 <= int(r.headers["Retry-After"]) <= 61  # the window end, rounded up
    assert r.get_json()["detail"] == "rate limit exceeded (2 per 1 minute)"


@pytest.mark.parametrize("headers, status, challenge", [
    ({}, 401, 'Bearer realm="demo"'),
    ({"Authorization": "Basic Z29vZA=="}, 401, 'Bearer realm="demo", error="invalid_token"'),
    ({"Authorization": "Bearer "}, 401, 'Bearer realm="demo", error="invalid_token"'),
    ({"X-API-Key": "wrong"}, 401, 'Bearer realm="demo", error="invalid_token"'),
    ({"Authorization": "Bearer good"}, 200, None),
    ({"X-API-Key": "good"}, 200, None),
])
def test_api_key_checks(headers, status, challenge):
    r = _app().test_client().get("/read", headers=headers)
    assert r.status_code == status
    assert r.headers.get("WWW-Authenticate") == challenge
    if status == 200:
        assert r.get_json() == {"key": 1}


def test_a_key_without_the_scope_is_a_403():
    r = _app().test_client().get("/write", headers={"X-API-Key": "good"})
    assert r.status_code == 403 and r.get_json()["detail"] == "this API key lacks the 'write' scope"


def test_bind_address_brackets_ipv6():
    assert bind_address("127.0.0.1", 8070) == "127.0.0.1:8070"
    assert bind_address("::", "8070") == "[::]:8070"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SERVICE = '''
from dsa_service.gunicorn import prometheus_multiprocess_hooks
bind = "127.0.0.1:{port}"
workers = 2
on_starting, child_exit, on_exit = prometheus_multiprocess_hooks("dsa-service-test-prom-")
'''
WSGI = '''
import os
from prometheus_client import Counter
from dsa_service.metrics import render
HITS = Counter("dsa_service_test_hits_total", "hits")

def app(environ, start_response):
    if environ["PATH_INFO"] == "/metrics":
        body, ctype = render()
    else:
        HITS.inc()
        body, ctype = os.environ["PROMETHEUS_MULTIPROC_DIR"].encode(), "text/plain"
    start_response("200 OK", [("Content-Type", ctype)])
    return [body]
'''


def _gunicorn(tmp_path, env_extra):
    port = _free_port()
    (tmp_path / "svc_conf.py").write_text(SERVICE.format(port=port))
    (tmp_path / "svc_app.py").write_text(WSGI)
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(env_extra, PYTHONPATH=str(tmp_path))
    log = tmp_path / "gunicorn.log"
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:svc_conf", "svc_app:app"],
                            env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    wait_until(http_ok(base + "/"), proc, log, "gunicorn did not answer", timeout=30)
    return proc, base


def _stop(proc):
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0


def test_gunicorn_hooks_make_a_private_multiprocess_dir_and_remove_it(tmp_path):
    proc, base = _gunicorn(tmp_path, {})
    try:
        private = urllib.request.urlopen(base + "/", timeout=5).read().decode()
        assert os.path.basename(private).startswith("dsa-service-test-prom-") and os.path.isdir(private)
        for _ in range(3):
            urllib.request.urlopen(base + "/", timeout=5).read()
        metrics = urllib.request.urlopen(base + "/metrics", timeout=5).read().decode()
        # Every worker's count in one exposition: the two probes plus the three requests.
        assert "dsa_service_test_hits_total 5.0" in metrics
    finally:
        _stop(proc)
    assert not os.path.exists(private)


def test_gunicorn_hooks_empty_an_operator_dir_of_a_previous_run_and_keep_it(tmp_path):
    operator = tmp_path / "prom"
    operator.mkdir()
    (operator / "counter_99999.db").write_bytes(b"stale")
    (operator / "keep.txt").write_text("not prometheus'")
    proc, base = _gunicorn(tmp_path, {"PROMETHEUS_MULTIPROC_DIR": str(operator)})
    try:
        assert urllib.request.urlopen(base + "/", timeout=5).read().decode() == str(operator)
        assert not (operator / "counter_99999.db").exists()
    finally:
        _stop(proc)
    assert (operator / "keep.txt").exists()


def test_wait_until_fails_with_the_log_of_a_process_that_exited(tmp_path):
    log = tmp_path / "server.log"
    log.write_text("address already in use")
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    with pytest.raises(AssertionError, match="address already in use"):
        wait_until(lambda: False, proc, log, "never ready", timeout=5)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with pytest.raises(AssertionError, match=r"never ready \(waited 1 s\)"):
            wait_until(lambda: False, sleeper, log, "never ready", timeout=1)
    finally:
        sleeper.kill()
        sleeper.wait()
