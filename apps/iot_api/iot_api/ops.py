"""Operations endpoints: liveness, readiness, Prometheus metrics, the OpenAPI document."""
from flask import Blueprint, Response, current_app

from . import db, metrics
from .auth import authenticate
from .openapi import document
from .util import json_obj

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz():
    return json_obj({"status": "ok"})


@bp.get("/readyz")
def readyz():
    # A DB error propagates to the error handler: 503 + Retry-After.
    db.fetch_one("SELECT 1")
    return json_obj({"status": "ready", "database": "ok"})


@bp.get("/metrics")
def prometheus():
    if current_app.config["SETTINGS"].metrics_require_key:
        authenticate("read")
    body, ctype = metrics.render()
    return Response(body, mimetype=None, content_type=ctype)


@bp.get("/api/v1/openapi.json")
def openapi():
    return json_obj(document(current_app))
