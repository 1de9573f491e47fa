"""Errors as RFC 9457 ``application/problem+json`` (the format and the common handlers:
dsa_service.problems), plus what only this API has: pydantic validation errors as field lists
and the database's errors as 503 with Retry-After.
"""
import logging

import psycopg2
from dsa_service.problems import ApiError, internal_error, problem
from dsa_service.problems import register as register_common
from flask import Flask, g
from pydantic import ValidationError

from .db import DB_ERRORS

__all__ = ["ApiError", "field_name", "from_validation", "problem", "register"]
log = logging.getLogger("iot_api")


def field_name(loc: tuple, prefix: str = "") -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "body"


def from_validation(exc: ValidationError, status: int = 422, prefix: str = "",
                    detail: str = "the request failed validation") -> ApiError:
    errors = []
    for e in exc.errors(include_url=False, include_input=False):
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        errors.append({"field": field_name(loc, prefix), "message": e["msg"], "type": e["type"]})
    if any(e["type"] == "json_invalid" for e in exc.errors()):
        return ApiError(400, "the body is not valid JSON", errors)
    if any(e["type"] in ("json_type", "list_type", "model_type", "dict_type") and not e["loc"]
           for e in exc.errors()):
        return ApiError(422, "the body has the wrong JSON type", errors)
    return ApiError(status, detail, errors)


def register(app: Flask) -> None:
    register_common(app, log, "iot_api_limiter")
    retry = str(app.config["SETTINGS"].retry_after_seconds)

    @app.errorhandler(ValidationError)
    def _validation(e: ValidationError):
        err = from_validation(e)
        return problem(err.status, err.detail, err.errors)

    @app.errorhandler(psycopg2.Error)
    def _db(e: psycopg2.Error):
        if isinstance(e, DB_ERRORS):
            log.warning("database unavailable: %s", str(e).strip().splitlines()[0] if str(e) else e,
                        extra={"request_id": getattr(g, "request_id", None)})
            return problem(503, "the database is unavailable; retry later",
                           headers={"Retry-After": retry})
        if isinstance(e, psycopg2.errors.QueryCanceled):
            return problem(503, "the database did not answer in time; retry later",
                           headers={"Retry-After": retry})
        return internal_error(log, e)
