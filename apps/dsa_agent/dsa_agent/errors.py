"""One error format: RFC 9457 ``application/problem+json``; never a stack trace to the client."""
import json
import logging
import math
import time

from flask import Flask, Response, g, request
from flask_limiter.errors import RateLimitExceeded
from werkzeug.exceptions import HTTPException

log = logging.getLogger("dsa_agent")
PROBLEM = "application/problem+json"
_TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 409: "Conflict", 413: "Content Too Large",
           415: "Unsupported Media Type", 422: "Unprocessable Content",
           429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


class ApiError(Exception):
    def __init__(self, status: int, detail: str, errors: list[dict] | None = None,
                 headers: dict | None = None):
        super().__init__(detail)
        self.status, self.detail = status, detail
        self.errors, self.headers = errors or [], headers or {}


def problem(status: int, detail: str, errors=None, headers=None) -> Response:
    body = {"type": "about:blank", "title": _TITLES.get(status, "Error"), "status": status,
            "detail": detail, "instance": request.path,
            "request_id": getattr(g, "request_id", None)}
    if errors:
        body["errors"] = errors
    resp = Response(json.dumps(body), status=status, mimetype=PROBLEM)
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def register(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api(e: ApiError):
        return problem(e.status, e.detail, e.errors, e.headers)

    @app.errorhandler(RateLimitExceeded)
    def _limited(e):
        limiter = app.extensions.get("dsa_agent_limiter")
        lim = limiter.current_limit if limiter else None
        retry = max(1, math.ceil(lim.reset_at - time.time())) if lim is not None else 1
        return problem(429, f"rate limit exceeded ({e.description})",
                       headers={"Retry-After": str(retry)})

    @app.errorhandler(HTTPException)
    def _http(e: HTTPException):
        detail = "the request body is too large" if e.code == 413 else (e.description or "")
        return problem(e.code or 500, detail)

    @app.errorhandler(Exception)
    def _unexpected(e):
        if isinstance(e, HTTPException):
            return _http(e)
        log.error("unhandled error", exc_info=e, extra={"request_id": g.get("request_id")})
        return problem(500, "internal error; quote the request id when reporting it")
