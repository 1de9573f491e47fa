"""The OpenAPI 3.1 document served at /api/v1/openapi.json. Request schemas come from the
pydantic models, so validation and documentation cannot drift; a test checks that every route
under /api/v1 is documented with its methods and nothing else is."""
from functools import lru_cache

from pydantic.json_schema import models_json_schema

from . import schemas
from .reference import STATUSES as REFERENCE_STATUSES

REF = "#/components/schemas/{model}"


def _problem(desc):
    return {"description": desc,
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def _json(desc, schema=None):
    return {"description": desc,
            "content": {"application/json": {"schema": schema or {"type": "object"}}}}


def _query_params(model) -> list[dict]:
    js = model.model_json_schema()
    out = []
    for name, prop in js["properties"].items():
        prop = dict(prop)
        prop.pop("title", None)
        if "anyOf" in prop:  # Optional[X] -> X (absent means null)
            inner = [p for p in prop.pop("anyOf") if p.get("type") != "null"]
            prop.update(inner[0])
        out.append({"name": name, "in": "query", "required": False, "schema": prop})
    return out


DEVICE_PATH = {"name": "device_id", "in": "path", "required": True,
               "schema": {"type": "string", "pattern": schemas.DEVICE_ID_RE}}
SEC_READ = [{"bearer": []}, {"apiKey": []}]


def _op(summary, scope=None, params=None, body=None, responses=None, headers=None):
    op = {"summary": summary, "responses": {}}
    if scope:
        op["security"] = SEC_READ
        op["description"] = f"Requires an API key with the '{scope}' scope."
        op["responses"].update({"401": _problem("no or invalid API key"),
                                "403": _problem("the key lacks the scope"),
                                "429": _problem("rate limit exceeded (Retry-After)")})
    op["parameters"] = list(params or []) + list(headers or [])
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
        op["responses"].update({"400": _problem("malformed JSON"),
                                "415": _problem("not application/json"),
                                "422": _problem("validation failed (errors[].field)")})
    op["responses"].update(responses or {})
    op["responses"].setdefault("400", _problem("invalid parameters"))
    op["responses"]["503"] = _problem("database unavailable (Retry-After)")
    return op


@lru_cache(maxsize=4)
def _document(batch_limit: int, reference: bool) -> dict:
    models = [schemas.Reading, schemas.DeviceCreate, schemas.DeviceUpdate, schemas.DeviceConfig]
    _, defs = models_json_schema([(m, "validation") for m in models], ref_template=REF)
    comps = defs.get("$defs", {})
    comps["Problem"] = {
        "type": "object",
        "properties": {"type": {"type": "string"}, "title": {"type": "string"},
                       "status": {"type": "integer"}, "detail": {"type": "string"},
                       "instance": {"type": "string"}, "request_id": {"type": "string"},
                       "errors": {"type": "array", "items": {
                           "type": "object", "properties": {"field": {"type": "string"},
                                                            "message": {"type": "string"}}}}},
    }
    reading = {"$ref": REF.format(model="Reading")}
    batch = {"oneOf": [reading, {"type": "array", "items": reading, "minItems": 1,
                                 "maxItems": batch_limit}]}
    idem = {"name": "Idempotency-Key", "in": "header", "required": False,
            "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,128}$"}}
    if_match = {"name": "If-Match", "in": "header", "required": True, "schema": {"type": "string"}}
    paths = {
        "/api/v1/readings": {
            "post": _op("Ingest one reading or a batch (atomic, COPY, idempotent)", "write",
                        headers=[idem], body=batch, responses={
                            "201": _json("written (inserted/duplicates counts)"),
                            "413": _problem(f"more than {batch_limit} readings")}),
            "get": _op("List readings, newest first, keyset-paginated", "read",
                       params=_query_params(schemas.ReadingsQuery),
                       responses={"200": _json("a page of readings and next_cursor")}),
        },
        "/api/v1/readings/stats": {
            "get": _op("min/avg/max/count per device and time bucket", "read",
                       params=_query_params(schemas.StatsQuery),
                       responses={"200": _json("buckets")}),
        },
        "/api/v1/devices": {
            "post": _op("Register a device", "admin", body={"$ref": REF.format(model="DeviceCreate")},
                        responses={"201": _json("the device"), "409": _problem("exists")}),
            "get": _op("List devices (keyset by id)", "read",
                       params=_query_params(schemas.DevicesQuery),
                       responses={"200": _json("a page of devices")}),
        },
        "/api/v1/devices/{device_id}": {
            "get": _op("Read a device", "read", [DEVICE_PATH],
                       responses={"200": _json("the device"), "404": _problem("unknown")}),
            "patch": _op("Update a device", "admin", [DEVICE_PATH],
                         body={"$ref": REF.format(model="DeviceUpdate")},
                         responses={"200": _json("the device"), "404": _problem("unknown")}),
            "delete": _op("Delete a device and its readings", "admin", [DEVICE_PATH],
                          responses={"204": {"description": "deleted"}, "404": _problem("unknown")}),
        },
        "/api/v1/devices/{device_id}/config": {
            "get": _op("Read the configuration (ETag)", "read", [DEVICE_PATH],
                       responses={"200": _json("configuration", {"$ref": REF.format(model="DeviceConfig")}),
                                  "304": {"description": "not modified"},
                                  "404": _problem("unknown")}),
            "put": _op("Replace the configuration (If-Match required)", "admin", [DEVICE_PATH],
                       headers=[if_match], body={"$ref": REF.format(model="DeviceConfig")},
                       responses={"200": _json("configuration"), "404": _problem("unknown"),
                                  "412": _problem("ETag mismatch"),
                                  "428": _problem("If-Match missing")}),
        },
        "/api/v1/devices/{device_id}/config/history": {
            "get": _op("Configuration change history", "read", [DEVICE_PATH],
                       responses={"200": _json("versions, newest first"),
                                  "404": _problem("unknown")}),
        },
        "/api/v1/openapi.json": {
            "get": {"summary": "This document", "responses": {"200": _json("OpenAPI 3.1")}},
        },
        "/healthz": {"get": {"summary": "Process alive", "responses": {"200": _json("ok")}}},
        "/readyz": {"get": {"summary": "Database reachable",
                            "responses": {"200": _json("ready"), "503": _problem("not ready")}}},
        "/metrics": {"get": {"summary": "Prometheus metrics",
                             "responses": {"200": {"description": "text exposition format"}}}},
    }
    if reference:
        # The reference workload requests /iot/ as well as /iot: both answer 200 (no redirect).
        row = {"type": "object", "properties": {
            "id": {"type": "integer"}, "is_on": {"type": "boolean"},
            "status": {"enum": list(REFERENCE_STATUSES)}, "location": {"type": "string"},
            "measured_at": {"type": "string", "format": "date-time"},
            **{f: {"type": "number"} for f in ("temperature_current", "temperature_desired",
                                               "humidity", "pressure", "air_quality", "voltage",
                                               "current", "power")}}}
        rows = {"type": "object", "required": ["node_name", "pod_name", "result"], "properties": {
            "node_name": {"type": "string", "description": "NODE_NAME, else the host name"},
            "pod_name": {"type": "string", "description": "POD_NAME, else the gunicorn instance"},
            "result": {"type": "array", "items": row, "description": "newest first"}}}
        ref_ops = {
            "/iot": {"get": _op("Reference: latest N rows, with the replica that answered", "read",
                                params=_query_params(schemas.ReferenceListQuery),
                                responses={"200": _json("rows", rows)})},
            "/iot/create": {"get": _op("Reference: write N random rows", "write",
                                       params=_query_params(schemas.ReferenceCreateQuery),
                                       responses={"200": _json("created count")})},
            "/iot/create_table": {"get": _op("Reference: create the table", "admin",
                                             responses={"200": _json("ready")})},
        }
        for path, item in ref_ops.items():
            paths[path] = paths[path + "/"] = item
    return {
        "openapi": "3.1.0",
        "info": {"title": "IoT API", "version": "1.0.0",
                 "description": "Smart-building IoT readings, devices and configuration. Errors are"
                                " application/problem+json with errors[].field."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": comps,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }


def document(app) -> dict:
    s = app.config["SETTINGS"]
    return _document(s.batch_limit, s.reference_routes)
