"""Data sources as plain typed functions, each configured by a URL or a path.

Every network call has a timeout and every failure becomes ``SourceError`` with a message that
names the source and its address: an unreachable source is reported, never waited on forever.
"""
import json
import socket
import urllib.error
import urllib.parse
import urllib.request


class SourceError(RuntimeError):
    """A data source could not be read (unreachable, timed out, or answered an error)."""

    def __init__(self, source: str, message: str):
        super().__init__(f"{source}: {message}")
        self.source = source


def http_json(source: str, base_url: str, path: str, params: dict | None = None,
              timeout: float = 10.0, body: dict | None = None) -> dict:
    if not base_url:
        raise SourceError(source, "not configured")
    url = base_url.rstrip("/") + path
    if params:
        url += "?" + urllib.parse.urlencode(params, doseq=True)
    data = None
    headers = {"Accept": "application/json"}
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as e:
        detail = e.read(2000).decode("utf-8", "replace")
        try:
            detail = json.loads(detail).get("error") or detail
        except (ValueError, AttributeError):
            pass
        raise SourceError(source, f"{base_url} answered HTTP {e.code}: {detail}") from None
    except (socket.timeout, TimeoutError):
        raise SourceError(source, f"{base_url} did not answer within {timeout:g} s") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        if isinstance(reason, (socket.timeout, TimeoutError)):
            raise SourceError(source, f"{base_url} did not answer within {timeout:g} s") from None
        raise SourceError(source, f"{base_url} is unreachable: {reason}") from None
    try:
        return json.loads(raw)
    except ValueError:
        raise SourceError(source, f"{base_url} answered something that is not JSON") from None
