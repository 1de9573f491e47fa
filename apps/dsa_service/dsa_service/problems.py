"""One error format: RFC 9457 ``application/problem+json``.

Body: ``{type, title, status, detail, instance, request_id, errors: [{field, message}]}``.
No stack trace ever reaches the client; a 500 is logged with its trace and the request id.
"""
import json
import logging
import math
import time

from flask import Flask, Response, g, request
from flask_limiter.errors import RateLimitExceeded
from werkzeug.exceptions import HTTPException

PROBLEM = "application/problem+json"

TITLES = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 406: "Not Acceptable", 409: "Conflict", 412: "Precondition Failed",
    413: "Content Too Large", 415: "Unsupported Media Type", 422: "Unprocessable Content",
    428: "Precondition Required", 429: "Too Many Requests", 500: "Internal Server Error",
    503: "Service Unavailable",
}


class ApiError(Exception):
    """Raised by a view: answered as a problem with this status, detail, field errors and headers."""

    def __init__(self, status: int, detail: str, errors: list[dict] | None = None,
                 headers: dict | None = None, title: str | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}
        self.title = title


def problem(status: int, detail: str, errors: list[dict] | None = None,
            headers: dict | None = None, title: str | None = None) -> Response:
    body = {
        "type": "about:blank",
        "title": title or TITLES.get(status, "Error"),
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


def internal_error(log: logging.Logger, exc: Exception) -> Response:
    """The answer to an unexpected exception: logged with its trace, a 500 without it."""
    log.error("unhandled error", exc_info=exc, extra={"request_id": getattr(g, "request_id", None)})
    return problem(500, "internal error; quote the request id when reporting it")


def register(app: Flask, log: logging.Logger, limiter_extension: str) -> None:
    """Answer every error of ``app`` as a problem: ApiError, the rate limit (429 with the
    seconds until the window resets as Retry-After; the limiter is
    ``app.extensions[limiter_extension]``), HTTP errors (405 with Allow) and anything else (500).
    An application registers its own handlers for more specific exceptions after this."""

    @app.errorhandler(ApiError)
    def _api_error(e: ApiError):
        return problem(e.status, e.detail, e.errors, e.headers, e.title)

    @app.errorhandler(RateLimitExceeded)
    def _rate_limited(e: RateLimitExceeded):
        retry_after = 1
        limiter = app.extensions.get(limiter_extension)
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

    @app.errorhandler(Exception)
    def _unexpected(e: Exception):
        if isinstance(e, HTTPException):
            return _http(e)
        return internal_error(log, e)
