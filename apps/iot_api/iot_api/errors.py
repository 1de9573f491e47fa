"""One error format for everything: RFC 9457 ``application/problem+json``.

Body: ``{type, title, status, detail, instance, request_id, errors: [{field, message}]}``.
No stack trace ever reaches the client; 500s are logged with the trace and the request id.
"""
import json
import logging
import math
import time

import psycopg2
from flask import Flask, Response, g, request
from flask_limiter.errors import RateLimitExceeded
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from .db import DB_ERRORS

log = logging.getLogger("iot_api")
PROBLEM = "application/problem+json"


class ApiError(Exception):
    def __init__(self, status: int, detail: str, errors: list[dict] | None = None,
                 headers: dict | None = None, title: str | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}
        self.title = title


_TITLES = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 406: "Not Acceptable", 409: "Conflict", 412: "Precondition Failed",
    413: "Content Too Large", 415: "Unsupported Media Type", 422: "Unprocessable Content",
    428: "Precondition Required", 429: "Too Many Requests", 500: "Internal Server Error",
    503: "Service Unavailable",
}


def problem(status: int, detail: str, errors: list[dict] | None = None,
            headers: dict | None = None, title: str | None = None) -> Response:
    body = {
        "type": "about:blank",
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": request.path if request else None,
        "request_id": getattr(g, "request_id", None),
    }
    if errors:
        body["errors"] = errors
    resp = Response(json.dumps(body), status=status, mimetype=PROBLEM)
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


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
    retry = str(app.config["SETTINGS"].retry_after_seconds)

    @app.errorhandler(ApiError)
    def _api_error(e: ApiError):
        return problem(e.status, e.detail, e.errors, e.headers, e.title)

    @app.errorhandler(RateLimitExceeded)
    def _rate_limited(e: RateLimitExceeded):
        retry_after = 1
        limiter = app.extensions.get("iot_api_limiter")
        lim = limiter.current_limit if limiter else None
        if lim is not None:
            retry_after = max(1, math.ceil(lim.reset_at - time.time()))
        return problem(429, f"rate limit exceeded ({e.description})",
                       headers={"Retry-After": str(retry_after)})

    @app.errorhandler(HTTPException)
    def _http(e: HTTPException):
        headers = {}
        if e.code == 405 and e.response is None:
            allow = getattr(e, "valid_methods", None)
            if allow:
                headers["Allow"] = ", ".join(allow)
        detail = e.description or ""
        if e.code == 413:
            detail = "the request body is too large"
        return problem(e.code or 500, detail, headers=headers)

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
        return _unexpected(e)

    @app.errorhandler(Exception)
    def _unexpected(e: Exception):
        if isinstance(e, HTTPException):
            return _http(e)
        log.error("unhandled error", exc_info=e,
                  extra={"request_id": getattr(g, "request_id", None)})
        return problem(500, "internal error; quote the request id when reporting it")
