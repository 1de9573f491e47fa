"""API keys in a JSON file (no database): random tokens, stored only as SHA-256 digests.

Scopes are ordered: ``admin`` implies ``write`` implies ``read``.
"""
import hashlib
import hmac
import json
import os
import secrets
import time

from .store import atomic_write

SCOPES = ("read", "write", "admin")
RANK = {s: i for i, s in enumerate(SCOPES)}
PREFIX = "dsak_"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _load(path: str) -> list[dict]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return []
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ValueError(f"{path}: not a keys file (expected {{\"keys\": [...]}})")
    return data["keys"]


def create(path: str, name: str, scope: str) -> tuple[int, str]:
    if scope not in RANK:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    if not name or len(name) > 100:
        raise ValueError("name must be 1 to 100 characters")
    entries = _load(path)
    key = PREFIX + secrets.token_urlsafe(32)
    key_id = max((e["id"] for e in entries), default=0) + 1
    entries.append({"id": key_id, "name": name, "scope": scope, "sha256": digest(key),
                    "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "revoked": None})
    atomic_write(path, json.dumps({"keys": entries}, indent=1), mode=0o600)
    return key_id, key


def revoke(path: str, key_id: int) -> bool:
    entries = _load(path)
    for e in entries:
        if e["id"] == key_id and not e.get("revoked"):
            e["revoked"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            atomic_write(path, json.dumps({"keys": entries}, indent=1), mode=0o600)
            return True
    return False


def listing(path: str) -> list[dict]:
    return [{k: v for k, v in e.items() if k != "sha256"} for e in _load(path)]


class KeyRing:
    """Looks keys up by digest; re-reads the file when its mtime changes (a new or revoked key
    takes effect on the next request, in every worker)."""

    def __init__(self, path: str):
        self.path = path
        self._mtime = None
        self._by_digest: dict[str, dict] = {}

    def _refresh(self):
        try:
            mtime = os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            mtime = None
        if mtime != self._mtime:
            self._by_digest = {e["sha256"]: e for e in _load(self.path) if not e.get("revoked")}
            self._mtime = mtime

    def lookup(self, key: str) -> dict | None:
        self._refresh()
        d = digest(key)
        for known, entry in self._by_digest.items():
            if hmac.compare_digest(known, d):
                return entry
        return None

    def readable(self) -> bool:
        try:
            self._refresh()
            return True
        except (OSError, ValueError):
            return False
