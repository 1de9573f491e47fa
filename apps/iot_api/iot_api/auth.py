"""API keys: random high-entropy tokens, stored as SHA-256 hashes, looked up by hash.

Scopes are ordered: ``admin`` implies ``write`` implies ``read``. A key is sent as
``Authorization: Bearer <key>`` or ``X-API-Key: <key>``. Looked-up keys are cached per process
for ``key_cache_seconds`` (so a revocation takes effect within that delay).
"""
import hashlib
import secrets
import threading
import time

from dsa_service import keys as request_keys
from flask import current_app, g, request

from . import db

SCOPES = ("read", "write", "admin")
_RANK = {s: i for i, s in enumerate(SCOPES)}
KEY_PREFIX = "iotk_"


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def create_key(cur, name: str, scopes: list[str]) -> tuple[int, str]:
    bad = [s for s in scopes if s not in _RANK]
    if bad or not scopes:
        raise ValueError(f"scopes must be among {SCOPES}, got {scopes}")
    key = new_key()
    cur.execute("INSERT INTO api_keys (name, key_hash, scopes) VALUES (%s, %s, %s) RETURNING id",
                (name, hash_key(key), sorted(set(scopes), key=_RANK.get)))
    return cur.fetchone()[0], key


def revoke_key(cur, key_id: int) -> bool:
    cur.execute("UPDATE api_keys SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL",
                (key_id,))
    return cur.rowcount == 1


class _Cache:
    def __init__(self):
        self._data: dict[bytes, tuple[float, tuple | None]] = {}
        self._lock = threading.Lock()

    def get(self, h: bytes, ttl: float):
        if ttl > 0:
            hit = self._data.get(h)
            if hit and hit[0] > time.monotonic():
                return hit[1], True
        return None, False

    def put(self, h: bytes, value, ttl: float):
        if ttl > 0:
            with self._lock:
                if len(self._data) > 10000:
                    self._data.clear()
                self._data[h] = (time.monotonic() + ttl, value)


def _allows(row, required: str) -> bool:
    return max(_RANK.get(s, -1) for s in row[2]) >= _RANK[required]


def authenticate(required: str) -> None:
    """Set g.api_key (id, name, scopes) or raise 401/403 (dsa_service.keys)."""
    settings = current_app.config["SETTINGS"]
    cache: _Cache = current_app.extensions["iot_api_key_cache"]

    def lookup(key: str):
        h = hash_key(key)
        row, hit = cache.get(h, settings.key_cache_seconds)
        if not hit:
            row = db.fetch_one_prepared(
                "SELECT id, name, scopes FROM api_keys WHERE key_hash = %s AND revoked_at IS NULL",
                (h,))
            cache.put(h, row, settings.key_cache_seconds)
        return row

    request_keys.check(required, "iot-api", lookup, _allows)


def require(scope: str):
    """Mark a view as needing an API key with at least ``scope`` (checked in before_request,
    ahead of the rate limiter, so that limits are counted per key)."""
    assert scope in _RANK
    return request_keys.require(scope)


def check_request() -> None:
    scope = request_keys.required_scope()
    if scope is not None and request.method != "OPTIONS":
        authenticate(scope)


def rate_limit_key() -> str:
    key = getattr(g, "api_key", None)
    if key is not None:
        return f"key:{key[0]}"
    return f"ip:{request.remote_addr}"
