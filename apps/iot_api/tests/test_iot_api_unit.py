"""Unit tests that need no database: settings, COPY text, error field names, replica names."""
import json

import pytest

from iot_api.config import Settings
from iot_api.errors import field_name
from iot_api.readings import _copy_text
from iot_api.schemas import Reading


def test_settings_from_env_and_overrides():
    env = {"IOT_API_POOL_SIZE": "12", "IOT_API_CORS_ORIGINS": "https://a, https://b",
           "IOT_API_REFERENCE_ROUTES": "true", "IOT_API_DB_PASSWORD": "p@ss/word",
           "IOT_API_DB_HOST": "db.internal", "UNRELATED": "x"}
    s = Settings.from_env({"batch_limit": "50"}, environ=env)
    assert s.pool_size == 12 and s.batch_limit == 50 and s.reference_routes is True
    assert s.cors_origins == ["https://a", "https://b"]
    assert s.dsn() == "postgresql://iot:p%40ss%2Fword@db.internal:5432/iot"
    assert Settings.from_env({"database_url": "postgresql:///x"}, environ={}).dsn() == "postgresql:///x"
    assert Settings.from_env(environ={}).reference_routes is False  # off by default


@pytest.mark.parametrize("bad", [{"pool_size": "many"}, {"reference_routes": "maybe"},
                                 {"no_such_setting": "1"}])
def test_settings_reject_bad_values(bad):
    with pytest.raises(ValueError):
        Settings.from_env(bad, environ={})


def test_copy_text_is_one_tab_separated_line_per_reading():
    r = Reading(device_id="ac-1", measured_at="2026-01-01T12:00:00+00:00",
                temperature_current=21.25, temperature_desired=22, humidity=40.5, pressure=1013,
                air_quality=12, voltage=230.1, current=0.1, power=23.01, is_on=False,
                status="idle", location="bldg-a/room 12")
    line = _copy_text([r, r])
    assert line.count("\n") == 2
    assert line.splitlines()[0].split("\t") == [
        "ac-1", "2026-01-01T12:00:00+00:00", "21.25", "22.0", "40.5", "1013.0", "12.0", "230.1",
        "0.1", "23.01", "f", "idle", "bldg-a/room 12"]


def test_error_field_names():
    assert field_name((3, "humidity")) == "[3].humidity"
    assert field_name(("humidity",)) == "humidity"
    assert field_name(()) == "body"


def test_serve_execs_gunicorn_with_the_config_module():
    import os
    import subprocess
    import sys
    exe = os.path.join(os.path.dirname(sys.executable), "iot-api")
    for worker_class in ("gevent", "gthread", "sync"):
        res = subprocess.run([exe, "serve", "--check-config"], capture_output=True, text=True,
                             env={**os.environ, "IOT_API_WORKER_CLASS": worker_class}, timeout=60)
        assert res.returncode == 0, res.stderr
    bad = subprocess.run([exe, "serve", "--check-config"], capture_output=True, text=True,
                         env={**os.environ, "IOT_API_WORKER_CLASS": "eventlet"}, timeout=60)
    assert bad.returncode != 0 and "gevent, gthread, sync" in bad.stderr


def test_reference_replica_names_on_kubernetes_and_on_hosts():
    import socket

    from iot_api.reference import envelope, replica_names
    host = socket.gethostname()
    k8s = {"NODE_NAME": "node-1", "POD_NAME": "iot-api-abc", "IOT_API_BIND": "0.0.0.0:8000"}
    assert replica_names("ignored", environ=k8s) == ("node-1", "iot-api-abc")
    # hosts: the systemd unit's IOT_API_INSTANCE, else host name and gunicorn port
    assert replica_names("web-1:8001", environ={}) == (host, "web-1:8001")
    assert replica_names(environ={"IOT_API_BIND": "[::1]:8003"}) == (host, f"{host}:8003")
    assert replica_names(environ={}) == (host, f"{host}:8000")
    head, tail = envelope("n\"1", "p")
    assert json.loads(head + b"[1, 2]" + tail) == {"node_name": 'n"1', "pod_name": "p",
                                                   "result": [1, 2]}


def test_settings_take_the_instance_name():
    s = Settings.from_env(environ={"IOT_API_INSTANCE": "web-1:8001"})
    assert s.instance == "web-1:8001"
