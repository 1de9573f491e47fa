"""Device management and the per-device configuration document (ETag / If-Match, history)."""
import json
import re

import psycopg2.errors
from flask import Blueprint, Response, g, request
from pydantic import ValidationError

from . import db
from .auth import require
from .errors import ApiError, from_validation
from .schemas import (DEFAULT_CONFIG, DEVICE_ID_RE, DeviceConfig, DeviceCreate, DevicesQuery,
                      DeviceUpdate)
from .util import json_obj, json_text, parse_query, require_json_body

bp = Blueprint("devices", __name__, url_prefix="/api/v1")
_ID = re.compile(DEVICE_ID_RE)
DEVICE_JSON = ("json_build_object('id', id, 'name', name, 'location', location, 'kind', kind,"
               " 'created_at', created_at, 'updated_at', updated_at)")


def _body(model):
    raw = require_json_body()
    try:
        return model.model_validate_json(raw)
    except ValidationError as e:
        raise from_validation(e) from None


def _check_id(device_id: str) -> None:
    # An id that cannot exist (pattern) is simply not found; it never reaches SQL.
    if not _ID.match(device_id):
        raise ApiError(404, f"no device with id {device_id[:80]!r}",
                       [{"field": "device_id", "message": "no such device"}])


def _not_found(device_id):
    return ApiError(404, f"no device with id {device_id!r}",
                    [{"field": "device_id", "message": "no such device"}])


def _etag(version: int) -> str:
    return f'"{version}"'


@bp.post("/devices")
@require("admin")
def create_device():
    d = _body(DeviceCreate)
    try:
        with db.transaction() as cur:
            cur.execute("INSERT INTO devices (id, name, location, kind) VALUES (%s, %s, %s, %s)"
                        f" RETURNING {DEVICE_JSON}::text", (d.id, d.name, d.location, d.kind))
            (body,) = cur.fetchone()
            cfg = json.dumps(DEFAULT_CONFIG)
            cur.execute("INSERT INTO device_configs (device_id, version, config, updated_by)"
                        " VALUES (%s, 1, %s, %s)", (d.id, cfg, g.api_key[1]))
            cur.execute("INSERT INTO device_config_history (device_id, version, config, changed_by)"
                        " VALUES (%s, 1, %s, %s)", (d.id, cfg, g.api_key[1]))
    except psycopg2.errors.UniqueViolation:
        raise ApiError(409, f"device {d.id!r} already exists",
                       [{"field": "id", "message": "already exists"}]) from None
    return json_text(body, 201, {"Location": f"/api/v1/devices/{d.id}"})


@bp.get("/devices")
@require("read")
def list_devices():
    q = parse_query(DevicesQuery)
    where, params = [], []
    if q.location is not None:
        where.append("location = %s")
        params.append(q.location)
    if q.after is not None:
        where.append("id > %s")
        params.append(q.after)
    sql = ("SELECT coalesce(json_agg(t.j ORDER BY t.id), '[]')::text, count(*), max(t.id) FROM"
           f" (SELECT id, {DEVICE_JSON} AS j FROM devices"
           + (" WHERE " + " AND ".join(where) if where else "")
           + " ORDER BY id LIMIT %s) t")
    params.append(q.limit)
    items, count, last = db.fetch_one(sql, params)
    nxt = last if count == q.limit else None
    return json_text('{"items":' + items + ',"next_after":' + json.dumps(nxt) + "}")


@bp.get("/devices/<device_id>")
@require("read")
def get_device(device_id):
    _check_id(device_id)
    row = db.fetch_one(f"SELECT {DEVICE_JSON}::text FROM devices WHERE id = %s", (device_id,))
    if row is None:
        raise _not_found(device_id)
    return json_text(row[0])


@bp.patch("/devices/<device_id>")
@require("admin")
def update_device(device_id):
    _check_id(device_id)
    d = _body(DeviceUpdate)
    changes = d.model_dump(exclude_none=True)
    if not changes:
        raise ApiError(422, "nothing to update", [{"field": "body", "message": "no field given"}])
    # Column names come from the model's fixed field set, never from the request.
    sets = ", ".join(f"{col} = %s" for col in changes) + ", updated_at = now()"
    row = db.fetch_one(f"UPDATE devices SET {sets} WHERE id = %s RETURNING {DEVICE_JSON}::text",
                       [*changes.values(), device_id])
    if row is None:
        raise _not_found(device_id)
    return json_text(row[0])


@bp.delete("/devices/<device_id>")
@require("admin")
def delete_device(device_id):
    _check_id(device_id)
    if db.execute("DELETE FROM devices WHERE id = %s", (device_id,)) == 0:
        raise _not_found(device_id)
    return Response(status=204)


@bp.get("/devices/<device_id>/config")
@require("read")
def get_config(device_id):
    _check_id(device_id)
    row = db.fetch_one("SELECT version, config::text FROM device_configs WHERE device_id = %s",
                       (device_id,))
    if row is None:
        raise _not_found(device_id)
    version, cfg = row
    if request.if_none_match and request.if_none_match.contains(str(version)):
        return Response(status=304, headers={"ETag": _etag(version)})
    return json_text(cfg, headers={"ETag": _etag(version)})


@bp.put("/devices/<device_id>/config")
@require("admin")
def put_config(device_id):
    _check_id(device_id)
    cfg = _body(DeviceConfig)
    if_match = request.headers.get("If-Match")
    if not if_match:
        raise ApiError(428, "If-Match with the current ETag is required to change the configuration",
                       [{"field": "If-Match", "message": "missing"}])
    with db.transaction() as cur:
        cur.execute("SELECT version FROM device_configs WHERE device_id = %s FOR UPDATE",
                    (device_id,))
        row = cur.fetchone()
        if row is None:
            raise _not_found(device_id)
        current = row[0]
        if if_match.strip() != "*" and not request.if_match.contains(str(current)):
            raise ApiError(412, "the configuration changed since it was read (ETag mismatch)",
                           [{"field": "If-Match", "message": f"current ETag is {_etag(current)}"}],
                           headers={"ETag": _etag(current)})
        new = current + 1
        doc = cfg.model_dump_json()
        cur.execute("UPDATE device_configs SET version = %s, config = %s, updated_at = now(),"
                    " updated_by = %s WHERE device_id = %s", (new, doc, g.api_key[1], device_id))
        cur.execute("INSERT INTO device_config_history (device_id, version, config, changed_by)"
                    " VALUES (%s, %s, %s, %s)", (device_id, new, doc, g.api_key[1]))
    return json_text(doc, headers={"ETag": _etag(new)})


@bp.get("/devices/<device_id>/config/history")
@require("read")
def config_history(device_id):
    _check_id(device_id)
    row = db.fetch_one(
        "SELECT EXISTS (SELECT 1 FROM devices WHERE id = %s),"
        " coalesce((SELECT json_agg(json_build_object('version', version, 'config', config,"
        " 'changed_at', changed_at, 'changed_by', changed_by) ORDER BY version DESC)"
        " FROM device_config_history WHERE device_id = %s), '[]')::text",
        (device_id, device_id))
    if not row[0]:
        raise _not_found(device_id)
    return json_text('{"items":' + row[1] + "}")


__all__ = ["bp", "json_obj"]
