"""Reference-compatibility routes, OFF by default (IOT_API_REFERENCE_ROUTES=true turns them on).

They exist only so that the reference k6 workload runs unchanged against this API and the two
can be compared: ``GET /iot`` (latest N rows, the reference's JSON field names),
``GET /iot/create?n=N`` (server-generated random rows) and ``GET /iot/create_table``.
``/iot/create`` and ``/iot/create_table`` write on GET because the reference workload does;
that is a compatibility mode, not an API design. They need an API key (read for /iot, write for
/iot/create, admin for /iot/create_table) unless IOT_API_REFERENCE_OPEN=true (benchmarks only).

``/iot/create`` generates the random rows inside PostgreSQL (INSERT ... SELECT FROM
generate_series with random()) instead of generating them in Python and sending them with COPY:
measured on the 2-core build machine, Python generation of 500 rows per request capped COPY at
about 125,000 rows/s, below the 250,000 rows/s target; server-side generation sends no row data
at all. See docs/benchmarks.md.

Fidelity to the reference API: every path answers 200 with and without a trailing slash (the
reference workload requests ``/iot/``; no redirect), ``GET /iot`` wraps the rows as
``{"node_name", "pod_name", "result": [...]}`` so that a load test sees which replica answered,
and ``/iot/create`` writes only the reference table's status values.
"""
import gzip
import json
import os
import socket
import threading
from importlib import resources

from flask import Blueprint, Response, current_app, request

from . import db, metrics
from .auth import require
from .schemas import ReferenceCreateQuery, ReferenceListQuery
from .util import json_obj, json_text, parse_query

# The status values of the reference table (not the readings API's device states).
STATUSES = ("actuating", "ventilator", "heater", "cooling", "off")

FIELDS = ("id, temperature_current, temperature_desired, humidity, pressure, air_quality,"
          " voltage, current, power, is_on, status, location, measured_at")
# The table's one definition is its migration; /iot/create_table runs the same idempotent DDL.
CREATE_TABLE = (resources.files("iot_api").joinpath("migrations", "0002_reference_iot.sql")
                .read_text(encoding="utf-8"))
# Plain float arithmetic on random(): rounding through numeric tripled PostgreSQL's CPU per row.
GENERATE = (
    "INSERT INTO iot (temperature_current, temperature_desired, humidity, pressure, air_quality,"
    " voltage, current, power, is_on, status, location, measured_at)"
    " SELECT 16 + random() * 16, 18 + random() * 8, 20 + random() * 60, 980 + random() * 50,"
    " random() * 300, 220 + random() * 20, random() * 10, random() * 2500, random() < 0.5,"
    " (%s::text[])[1 + floor(random() * %s)::int],"
    " 'building-' || floor(random() * 10)::int || '/room-' || floor(random() * 50)::int,"
    " now() FROM generate_series(1, %s)")
_STATUSES = list(STATUSES)
SNAPSHOT = "SELECT pg_current_snapshot()::text"


class LatestCache:
    """Per-process cache of the GET /iot body, keyed by limit and validated on every request
    against PostgreSQL's current snapshot (xmin:xmax:in-progress xids). Any write transaction
    that commits anywhere in the cluster changes the snapshot, so a cached body is served only
    when it is exactly what the query would return now; the check is one trivial query instead
    of turning 500 rows into JSON again. IOT_API_REFERENCE_CACHE=false turns it off."""

    def __init__(self, size: int = 16):
        self._data: dict[int, tuple[str, bytes, bytes | None]] = {}
        self._lock = threading.Lock()
        self.size = size

    def get(self, limit: int, snapshot: str):
        hit = self._data.get(limit)
        return hit if hit is not None and hit[0] == snapshot else None

    def put(self, limit: int, snapshot: str, body: bytes, gz: bytes | None):
        with self._lock:
            if len(self._data) >= self.size:
                self._data.clear()
            self._data[limit] = (snapshot, body, gz)


def _respond(body: bytes, gz: bytes | None) -> Response:
    if gz is not None and "gzip" in request.headers.get("Accept-Encoding", ""):
        resp = Response(gz, mimetype="application/json")
        resp.headers["Content-Encoding"] = "gzip"
    else:
        resp = Response(body, mimetype="application/json")
    resp.headers["Vary"] = "Accept-Encoding"
    return resp


def replica_names(instance: str = "", environ=None) -> tuple[str, str]:
    """(node_name, pod_name) of this process: NODE_NAME and POD_NAME (set by the Kubernetes
    downward API); on hosts the host name and the gunicorn instance, IOT_API_INSTANCE (the
    systemd unit sets it) or else ``<host name>:<port of IOT_API_BIND>``."""
    environ = os.environ if environ is None else environ
    host = socket.gethostname()
    node = environ.get("NODE_NAME") or host
    pod = environ.get("POD_NAME") or instance
    if not pod:
        bind = environ.get("IOT_API_BIND", "127.0.0.1:8000")
        pod = f"{host}:{bind if bind.startswith('unix:') else bind.rsplit(':', 1)[-1]}"
    return node, pod


def envelope(node: str, pod: str) -> tuple[bytes, bytes]:
    """The bytes before and after the rows' JSON array in a GET /iot body (per-process
    constants, so a cached body carries them too)."""
    head = json.dumps({"node_name": node, "pod_name": pod})[:-1] + ', "result": '
    return head.encode(), b"}"


def make_blueprint(settings) -> Blueprint:
    bp = Blueprint("reference", __name__)
    open_access = settings.reference_open

    def guard(scope):
        return (lambda f: f) if open_access else require(scope)

    cache = LatestCache()
    head, tail = envelope(*replica_names(settings.instance))

    # strict_slashes=False: /iot/ is the same route as /iot, answered directly (no redirect)
    @bp.get("/iot", strict_slashes=False)
    @guard("read")
    def latest():
        q = parse_query(ReferenceListQuery)
        use_cache = current_app.config["SETTINGS"].reference_cache
        if use_cache:
            (snapshot,) = db.fetch_one_prepared(SNAPSHOT, ())
            hit = cache.get(q.limit, snapshot)
            if hit is not None:
                return _respond(hit[1], hit[2])
        snapshot, text = db.fetch_one_prepared(
            "SELECT pg_current_snapshot()::text, coalesce(json_agg(t ORDER BY t.id DESC), '[]')::text"
            f" FROM (SELECT {FIELDS} FROM iot ORDER BY id DESC LIMIT %s) t", (q.limit,))
        body = head + text.encode() + tail
        if not use_cache:
            return json_text(body, compress=True)
        gz = gzip.compress(body, compresslevel=1, mtime=0) if len(body) > 1024 else None
        cache.put(q.limit, snapshot, body, gz)
        return _respond(body, gz)

    @bp.get("/iot/create", strict_slashes=False)
    @guard("write")
    def create():
        q = parse_query(ReferenceCreateQuery)
        n = db.execute_prepared(GENERATE, (_STATUSES, len(_STATUSES), q.n))
        metrics.INGESTED.labels("/iot/create").inc(n)
        return json_obj({"created": n})

    @bp.get("/iot/create_table", strict_slashes=False)
    @guard("admin")
    def create_table():
        db.execute(CREATE_TABLE)
        return json_obj({"table": "iot", "status": "ready"})

    return bp
