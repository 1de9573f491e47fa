"""Small helpers shared by the blueprints: query parsing, JSON responses, gzip, cursors."""
import base64
import gzip
import json

from flask import Response, request
from pydantic import ValidationError

from .errors import ApiError, from_validation

JSON = "application/json"


def parse_query(model):
    args = {}
    for key in request.args:
        values = request.args.getlist(key)
        if len(values) > 1:
            raise ApiError(400, "a query parameter was given more than once",
                           [{"field": key, "message": "repeated parameter"}])
        args[key] = values[0]
    try:
        return model.model_validate(args)
    except ValidationError as e:
        raise from_validation(e, status=400, detail="invalid query parameters") from None


def require_json_body() -> bytes:
    if request.mimetype != JSON:
        raise ApiError(415, "the body must be application/json",
                       [{"field": "Content-Type", "message": f"got {request.mimetype or 'none'!r}"}])
    return request.get_data(cache=False)


def json_text(text: str | bytes, status: int = 200, headers: dict | None = None,
              compress: bool = False) -> Response:
    """Return JSON text as is (built by PostgreSQL or json.dumps), gzip level 1 when the client
    accepts it and ``compress`` is set (the big list endpoints)."""
    body = text.encode() if isinstance(text, str) else text
    resp = Response(body, status=status, mimetype=JSON)
    if compress:
        resp.headers["Vary"] = "Accept-Encoding"
        if len(body) > 1024 and "gzip" in request.headers.get("Accept-Encoding", ""):
            resp.set_data(gzip.compress(body, compresslevel=1, mtime=0))
            resp.headers["Content-Encoding"] = "gzip"
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def json_obj(obj, status: int = 200, headers: dict | None = None) -> Response:
    return json_text(json.dumps(obj, default=str), status, headers)


def encode_cursor(*parts) -> str:
    raw = ":".join(str(p) for p in parts).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, n: int) -> list[int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        parts = [int(p) for p in raw.split(":")]
        if len(parts) != n or any(abs(p) > 2**62 for p in parts):
            raise ValueError
        return parts
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid cursor", [{"field": "cursor",
                                               "message": "not a cursor returned by this API"}]) from None
