"""The OpenAPI 3.1 document of the HTTP API (a test keeps it in step with the routes)."""
from . import __version__

_P = {"$ref": "#/components/responses/Problem"}


def _op(summary, scope=None, body=None, ok="200", params=(), extra=()):
    op = {"summary": summary, "responses": {ok: {"description": "success"}}}
    if scope:
        op["security"] = [{"bearer": []}, {"apiKey": []}]
        op["x-scope"] = scope
        op["responses"].update({"401": _P, "403": _P, "429": _P})
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
        op["responses"].update({"400": _P, "415": _P, "422": _P})
    for code in extra:
        op["responses"][code] = _P
    if params:
        op["parameters"] = [{"name": p, "in": "path", "required": True,
                             "schema": {"type": "string"}} for p in params]
    return op


def document() -> dict:
    analysis_req = {"type": "object", "additionalProperties": False, "required": ["window"],
                    "properties": {
                        "window": {"type": "string", "pattern": "^[1-9][0-9]*[smh]$",
                                   "description": "30s to 24h"},
                        "targets": {"type": "array", "items": {
                            "type": "string", "enum": ["iot_api", "postgresql", "node",
                                                       "prometheus"]}},
                        "question": {"type": "string", "maxLength": 2000},
                        "end": {"type": "number", "description": "Unix time; default now"}}}
    decision = {"type": "object", "additionalProperties": False,
                "properties": {"comment": {"type": "string"}}}
    a, s = ("aid",), ("aid", "sid")
    return {
        "openapi": "3.1.0",
        "info": {"title": "dsa-agent", "version": __version__,
                 "description": "Operations agent: anomalies and approved inventory patches."},
        "paths": {
            "/healthz": {"get": _op("liveness")},
            "/readyz": {"get": _op("readiness", extra=("503",))},
            "/metrics": {"get": _op("Prometheus metrics")},
            "/api/v1/openapi.json": {"get": _op("this document")},
            "/api/v1/analyses": {
                "post": _op("start an analysis", "write", analysis_req, ok="202"),
                "get": _op("list analyses", "read")},
            "/api/v1/analyses/{aid}": {"get": _op("status and result", "read", params=a,
                                                  extra=("404",))},
            "/api/v1/analyses/{aid}/findings": {"get": _op("findings", "read", params=a,
                                                           extra=("404", "409"))},
            "/api/v1/analyses/{aid}/suggestions": {"get": _op("suggestions", "read", params=a,
                                                              extra=("404", "409"))},
            "/api/v1/analyses/{aid}/suggestions/{sid}/approve": {
                "post": _op("approve: writes the patch file", "write", params=s,
                            extra=("404", "409"))},
            "/api/v1/analyses/{aid}/suggestions/{sid}/reject": {
                "post": _op("reject", "write", params=s, extra=("404", "409"))},
            "/api/v1/chat": {"post": _op("ask the agent", "read", {
                "type": "object", "additionalProperties": False, "required": ["message"],
                "properties": {"message": {"type": "string", "maxLength": 2000}}})},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
            "schemas": {"Decision": decision},
            "responses": {"Problem": {"description": "RFC 9457 problem",
                                      "content": {"application/problem+json": {"schema": {
                                          "type": "object"}}}}},
        },
    }
