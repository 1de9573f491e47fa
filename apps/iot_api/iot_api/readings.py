"""Readings: batch ingestion with COPY, filtered keyset-paginated reads, per-bucket statistics."""
import hashlib
import json
import re
from datetime import datetime, timedelta, timezone

import psycopg2.errors
from flask import Blueprint, current_app, g, request
from pydantic import ValidationError

from . import db, metrics
from .auth import require
from .errors import ApiError, from_validation
from .schemas import EARLIEST, ONE_READING, ReadingsQuery, StatsQuery
from .util import decode_cursor, encode_cursor, json_text, parse_query, require_json_body

bp = Blueprint("readings", __name__, url_prefix="/api/v1")

COLUMNS = ("device_id, measured_at, temperature_current, temperature_desired, humidity, pressure,"
           " air_quality, voltage, current, power, is_on, status, location")
COPY_READINGS = f"COPY readings ({COLUMNS}) FROM STDIN"
STAGE = ("CREATE TEMP TABLE IF NOT EXISTS readings_stage ON COMMIT DELETE ROWS"
         f" AS SELECT {COLUMNS} FROM readings WITH NO DATA")
COPY_STAGE = f"COPY readings_stage ({COLUMNS}) FROM STDIN"
MERGE_STAGE = (f"INSERT INTO readings ({COLUMNS}) SELECT {COLUMNS} FROM readings_stage"
               " ON CONFLICT (device_id, measured_at) DO NOTHING")
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
FUTURE_SLACK = timedelta(days=1)


def _copy_text(readings) -> str:
    # Every text field was matched against a pattern without tab, newline or backslash, so no
    # COPY escaping is needed; numbers use repr (exact round trip), booleans t/f; measured_at is
    # the validated RFC 3339 text as sent.
    out = []
    append = out.append
    for r in readings:
        append(f"{r.device_id}\t{r.measured_at}\t{r.temperature_current!r}\t"
               f"{r.temperature_desired!r}\t{r.humidity!r}\t{r.pressure!r}\t{r.air_quality!r}\t"
               f"{r.voltage!r}\t{r.current!r}\t{r.power!r}\t{'t' if r.is_on else 'f'}\t"
               f"{r.status}\t{r.location}\n")
    return "".join(out)


def _parse(raw: bytes):
    """Return (readings, single) or raise ApiError with the failing fields."""
    stripped = raw.lstrip()
    single = stripped[:1] == b"{"
    adapter = ONE_READING if single else current_app.extensions["iot_api_batch_adapter"]
    try:
        parsed = adapter.validate_json(raw)
    except ValidationError as e:
        errs = e.errors(include_url=False, include_input=False)
        if any(x["type"] == "too_long" and not x["loc"] for x in errs):
            limit = current_app.config["SETTINGS"].batch_limit
            raise ApiError(413, f"a batch may hold at most {limit} readings",
                           [{"field": "body", "message": f"more than {limit} readings"}]) from None
        raise from_validation(e) from None
    readings = [parsed] if single else parsed
    latest = datetime.now(timezone.utc) + FUTURE_SLACK
    parse = datetime.fromisoformat
    bad = []
    for i, r in enumerate(readings):
        try:
            t = parse(r.measured_at)
        except ValueError:
            bad.append((i, "not a valid date and time"))
            continue
        if t < EARLIEST:
            bad.append((i, "measured_at is before 2000-01-01"))
        elif t > latest:
            bad.append((i, "measured_at is more than one day in the future"))
    if bad:
        raise ApiError(422, "the request failed validation", [
            {"field": ("" if single else f"[{i}].") + "measured_at", "message": msg}
            for i, msg in bad[:100]])
    return readings, single


def _unknown_devices(cur, readings, single):
    ids = sorted({r.device_id for r in readings})
    cur.execute("SELECT d FROM unnest(%s::text[]) AS d"
                " WHERE NOT EXISTS (SELECT 1 FROM devices WHERE id = d)", (ids,))
    missing = {row[0] for row in cur.fetchall()}
    errors = [{"field": ("" if single else f"[{i}].") + "device_id",
               "message": f"unknown device {r.device_id!r}"}
              for i, r in enumerate(readings) if r.device_id in missing]
    return errors[:100]


class _Replay(Exception):
    pass


def _store_idempotent(cur, key, req_hash, body):
    cur.execute("INSERT INTO idempotency_keys (api_key_id, key, request_hash, status, response)"
                " VALUES (%s, %s, %s, 201, %s) ON CONFLICT DO NOTHING RETURNING 1",
                (g.api_key[0], key, req_hash, body))
    if cur.fetchone() is None:  # a concurrent request with the same key committed first
        raise _Replay()


def _replay(key, req_hash):
    row = db.fetch_one("SELECT request_hash, status, response FROM idempotency_keys"
                       " WHERE api_key_id = %s AND key = %s", (g.api_key[0], key))
    if row is None:
        return None
    if bytes(row[0]) != req_hash:
        raise ApiError(422, "this Idempotency-Key was already used with a different body",
                       [{"field": "Idempotency-Key", "message": "reused with a different body"}])
    return json_text(row[2], row[1], {"Idempotent-Replayed": "true"})


@bp.post("/readings")
@require("write")
def post_readings():
    raw = require_json_body()
    key = request.headers.get("Idempotency-Key")
    if key is not None and not IDEMPOTENCY_KEY.match(key):
        raise ApiError(400, "invalid Idempotency-Key", [
            {"field": "Idempotency-Key", "message": "1 to 128 characters of A-Z a-z 0-9 _ . : -"}])
    readings, single = _parse(raw)
    req_hash = hashlib.sha256(raw).digest() if key else b""
    if key:
        replay = _replay(key, req_hash)
        if replay is not None:
            return replay
    text = _copy_text(readings)
    n = len(readings)
    with db.connection() as conn:
        try:
            try:
                # Fast path: plain COPY into the table (the common case: no retries).
                with db.transaction(conn) as cur:
                    db.copy_in(cur, COPY_READINGS, text)
                    inserted = n
                    body = json.dumps({"received": n, "inserted": n, "duplicates": 0})
                    if key:
                        _store_idempotent(cur, key, req_hash, body)
            except psycopg2.errors.UniqueViolation:
                # A retry or overlapping batch: COPY into a session-local staging table and keep
                # only rows whose natural key (device_id, measured_at) is new.
                with db.transaction(conn) as cur:
                    cur.execute(STAGE)
                    db.copy_in(cur, COPY_STAGE, text)
                    cur.execute(MERGE_STAGE)
                    inserted = cur.rowcount
                    body = json.dumps({"received": n, "inserted": inserted,
                                       "duplicates": n - inserted})
                    if key:
                        _store_idempotent(cur, key, req_hash, body)
        except psycopg2.errors.ForeignKeyViolation:
            with conn.cursor() as cur:
                errors = _unknown_devices(cur, readings, single)
            raise ApiError(422, "readings refer to unknown devices; nothing was written",
                           errors or [{"field": "device_id", "message": "unknown device"}]) from None
        except _Replay:
            pass
        else:
            metrics.INGESTED.labels("/api/v1/readings").inc(inserted)
            return json_text(body, 201)
    return _replay(key, req_hash)


READ_COLUMNS = ("id, device_id, measured_at, temperature_current, temperature_desired, humidity,"
                " pressure, air_quality, voltage, current, power, is_on, status, location")


def _filters(q, where: list, params: list):
    if q.device_id is not None:
        where.append("device_id = %s")
        params.append(q.device_id)
    if q.location is not None:
        where.append("location = %s")
        params.append(q.location)
    if q.since is not None:
        where.append("measured_at >= %s")
        params.append(q.since)
    if q.until is not None:
        where.append("measured_at < %s")
        params.append(q.until)


@bp.get("/readings")
@require("read")
def list_readings():
    q = parse_query(ReadingsQuery)
    where, params = [], []
    _filters(q, where, params)
    if q.cursor is not None:
        micros, last_id = decode_cursor(q.cursor, 2)
        where.append("(measured_at, id) < ('epoch'::timestamptz + %s * interval '1 microsecond', %s)")
        params += [micros, last_id]
    sql = (f"SELECT coalesce(json_agg(t ORDER BY t.measured_at DESC, t.id DESC), '[]')::text,"
           " count(*),"
           " (extract(epoch FROM min(t.measured_at)) * 1000000)::bigint,"
           " (array_agg(t.id ORDER BY t.measured_at, t.id))[1]"
           f" FROM (SELECT {READ_COLUMNS} FROM readings"
           + (" WHERE " + " AND ".join(where) if where else "")
           + " ORDER BY measured_at DESC, id DESC LIMIT %s) t")
    params.append(q.limit)
    items, count, micros, last_id = db.fetch_one_prepared(sql, params)
    cursor = encode_cursor(micros, last_id) if count == q.limit else None
    return json_text('{"items":' + items + ',"next_cursor":' + json.dumps(cursor) + "}",
                     compress=True)


STAT_FIELDS = ("temperature_current", "temperature_desired", "humidity", "pressure",
               "air_quality", "power")


@bp.get("/readings/stats")
@require("read")
def reading_stats():
    q = parse_query(StatsQuery)
    until = q.until or datetime.now(timezone.utc)
    since = q.since or until - timedelta(days=1)
    if since >= until:
        raise ApiError(400, "since must be earlier than until",
                       [{"field": "since", "message": "must be earlier than until"}])
    q = q.model_copy(update={"since": since, "until": until})
    where, params = [], []
    _filters(q, where, params)
    aggs = ", ".join(
        f"json_build_object('min', min({f}), 'avg', round(avg({f})::numeric, 3),"
        f" 'max', max({f})) AS {f}" for f in STAT_FIELDS)
    sql = ("SELECT coalesce(json_agg(s ORDER BY s.device_id, s.bucket_start), '[]')::text FROM ("
           f" SELECT device_id, date_trunc(%s, measured_at) AS bucket_start, count(*) AS count, {aggs}"
           " FROM readings WHERE " + " AND ".join(where)
           + " GROUP BY device_id, bucket_start ORDER BY device_id, bucket_start LIMIT 10000) s")
    (items,) = db.fetch_one(sql, [q.bucket, *params])
    return json_text('{"bucket":' + json.dumps(q.bucket) + ',"since":' + json.dumps(since.isoformat())
                     + ',"until":' + json.dumps(until.isoformat()) + ',"items":' + items + "}",
                     compress=True)
