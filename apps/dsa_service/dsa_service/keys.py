"""API key checks on requests. A key is sent as ``Authorization: Bearer <key>`` or
``X-API-Key: <key>``; a view needs one when it is marked with ``require(scope)``, and the check
runs in ``before_request`` (ahead of the rate limiter, so that limits count per key)."""
from flask import current_app, g, request

from .problems import ApiError


def require(scope: str):
    """Mark a view as needing an API key with at least ``scope``."""
    def deco(fn):
        fn.required_scope = scope
        return fn
    return deco


def required_scope() -> str | None:
    """The scope the current request's view was marked with, or None."""
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    return getattr(view, "required_scope", None)


def presented_key() -> str | None:
    """The key the request presents; "" for an Authorization header that is not a bearer token
    (a wrong key, not a missing one); None without either header."""
    auth = request.headers.get("Authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return ""
    return request.headers.get("X-API-Key")


def check(required: str, realm: str, lookup, allows) -> None:
    """Set ``g.api_key`` to ``lookup(key)`` or raise 401 (no key, unknown key) or 403
    (``allows(entry, required)`` is false), with the WWW-Authenticate challenge of ``realm``."""
    key = presented_key()
    if key is None:
        raise ApiError(401, "an API key is required (Authorization: Bearer <key> or X-API-Key)",
                       headers={"WWW-Authenticate": f'Bearer realm="{realm}"'})
    entry = lookup(key) if key else None
    if entry is None:
        raise ApiError(401, "the API key is not valid",
                       headers={"WWW-Authenticate": f'Bearer realm="{realm}", error="invalid_token"'})
    g.api_key = entry
    if not allows(entry, required):
        raise ApiError(403, f"this API key lacks the '{required}' scope")
