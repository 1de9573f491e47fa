"""Unauthenticated operations endpoints: /healthz, /readyz, /metrics, the OpenAPI document."""
from dsa_service import metrics
from flask import Blueprint, Response, current_app, jsonify

from .openapi import document

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    checks = {"state_dir": current_app.extensions["dsa_agent_runner"].store.writable(),
              "api_keys_file": current_app.extensions["dsa_agent_keys"].readable()}
    ok = all(checks.values())
    resp = jsonify({"status": "ready" if ok else "not ready", "checks": checks})
    resp.status_code = 200 if ok else 503
    return resp


@bp.get("/metrics")
def prometheus():
    body, ctype = metrics.render()
    return Response(body, mimetype=ctype.split(";")[0], content_type=ctype)


@bp.get("/api/v1/openapi.json")
def openapi():
    return jsonify(document())
