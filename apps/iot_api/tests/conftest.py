"""Fixtures: a private PostgreSQL server for the whole session (free port, temp dir, removed at
the end), a fresh migrated schema emptied before each test, an app, and API keys per scope."""
import json

import psycopg2
import pytest

from iot_api import auth, create_app
from iot_api.migrate import migrate
from iot_api_helpers import TABLES
from iot_api_pgserver import PgServer, PostgresUnavailable


@pytest.fixture(scope="session")
def pg():
    try:
        server = PgServer()
    except PostgresUnavailable as e:
        pytest.fail(str(e), pytrace=False)
    server.init().start().create_database()
    migrate(server.dsn)
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def admin_conn(pg):
    conn = psycopg2.connect(pg.dsn)
    conn.autocommit = True
    yield conn
    conn.close()


@pytest.fixture
def clean_db(admin_conn):
    with admin_conn.cursor() as cur:
        cur.execute("TRUNCATE " + ", ".join(TABLES) + " RESTART IDENTITY CASCADE")
    return admin_conn


@pytest.fixture
def make_app(pg, clean_db):
    apps = []

    def factory(**overrides):
        config = {"database_url": pg.dsn, "rate_limit": "off", "key_cache_seconds": "0",
                  "log_level": "WARNING", **overrides}
        app = create_app(config)
        app.config["TESTING"] = True
        apps.append(app)
        return app

    yield factory
    for app in apps:
        pool = app.extensions.get("iot_api_pool")
        if pool:
            pool.closeall()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def keys(clean_db):
    out = {}
    with clean_db.cursor() as cur:
        for scope in auth.SCOPES:
            _, key = auth.create_key(cur, f"test-{scope}", [scope])
            out[scope] = key
    return out


@pytest.fixture
def counts(clean_db):
    def _counts() -> dict:
        with clean_db.cursor() as cur:
            out = {}
            for t in TABLES:
                cur.execute(f"SELECT count(*) FROM {t}")
                out[t] = cur.fetchone()[0]
            return out
    return _counts


@pytest.fixture
def devices(clean_db):
    """Two registered devices with their default configuration."""
    with clean_db.cursor() as cur:
        for did, loc in (("ac-1", "bldg-a/floor-1"), ("ac-2", "bldg-a/floor-2")):
            cur.execute("INSERT INTO devices (id, name, location) VALUES (%s, %s, %s)",
                        (did, f"AC {did}", loc))
            cur.execute("INSERT INTO device_configs (device_id, version, config) VALUES (%s, 1, %s)",
                        (did, json.dumps({"temperature_setpoint": 22.0, "humidity_setpoint": 45.0,
                                          "sampling_interval_s": 60, "enabled": True})))
    return ["ac-1", "ac-2"]
