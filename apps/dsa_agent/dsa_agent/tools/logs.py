"""Logs: Loki (LogQL) or Elasticsearch when configured; on hosts, the systemd journal of the
platform's units through ``journalctl --output=json``."""
import json
import shutil
import subprocess
import time

from . import SourceError, http_json


def loki(url: str, logql: str, start: float, end: float, limit: int = 200,
         timeout: float = 10.0) -> list[dict]:
    doc = http_json("loki", url, "/loki/api/v1/query_range",
                    {"query": logql, "start": str(int(start * 1e9)), "end": str(int(end * 1e9)),
                     "limit": str(limit), "direction": "backward"}, timeout)
    out = []
    for stream in (doc.get("data") or {}).get("result", []):
        for ts, line in stream.get("values", []):
            out.append({"ts": int(ts) / 1e9, "labels": stream.get("stream", {}), "line": line})
    out.sort(key=lambda r: r["ts"])
    return out[-limit:]


def elasticsearch(url: str, query: str, start: float, end: float, index: str = "*",
                  limit: int = 200, timeout: float = 10.0) -> list[dict]:
    body = {"size": limit, "sort": [{"@timestamp": "desc"}],
            "query": {"bool": {"must": [{"query_string": {"query": query or "*"}}],
                               "filter": [{"range": {"@timestamp": {
                                   "gte": int(start * 1000), "lte": int(end * 1000),
                                   "format": "epoch_millis"}}}]}}}
    doc = http_json("elasticsearch", url, f"/{index}/_search", None, timeout, body=body)
    out = []
    for hit in (doc.get("hits") or {}).get("hits", []):
        src = hit.get("_source", {})
        out.append({"ts": src.get("@timestamp"), "labels": {"index": hit.get("_index")},
                    "line": src.get("message") or json.dumps(src)[:500]})
    return list(reversed(out))


def journal(units: list[str], since_s: float, grep: str = "", limit: int = 200,
            timeout: float = 10.0, journalctl: str | None = None) -> list[dict]:
    exe = journalctl or shutil.which("journalctl")
    if not exe:
        raise SourceError("journal", "journalctl is not installed on this host")
    cmd = [exe, "--output=json", "--no-pager", f"--since=-{int(since_s)}s", "-n", str(limit)]
    for u in units:
        cmd += ["-u", u]
    if grep:
        cmd += ["--grep", grep]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SourceError("journal", f"journalctl did not finish within {timeout:g} s") from None
    if proc.returncode not in (0, 1):  # 1: --grep matched nothing
        raise SourceError("journal", f"journalctl failed: {proc.stderr.strip()[:300]}")
    out = []
    for line in proc.stdout.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        msg = rec.get("MESSAGE")
        if isinstance(msg, list):  # binary payloads come as byte arrays
            msg = bytes(msg).decode("utf-8", "replace")
        out.append({"ts": int(rec.get("__REALTIME_TIMESTAMP", "0")) / 1e6,
                    "labels": {"unit": rec.get("_SYSTEMD_UNIT"), "priority": rec.get("PRIORITY")},
                    "line": msg or ""})
    return out


def search(settings, text: str, window_s: float, limit: int = 100) -> dict:
    """Whichever log source is configured: Loki, else Elasticsearch, else the journal."""
    end = time.time()
    start = end - window_s
    t = settings.source_timeout
    if settings.loki_url:
        expr = '{job=~".+"}' + (f' |= "{text}"' if text else "")
        return {"source": "loki", "query": expr,
                "lines": loki(settings.loki_url, expr, start, end, limit, t)}
    if settings.elasticsearch_url:
        return {"source": "elasticsearch", "query": text or "*",
                "lines": elasticsearch(settings.elasticsearch_url, text, start, end, "*", limit, t)}
    return {"source": "journal", "query": ",".join(settings.units) + (f" grep {text}" if text else ""),
            "lines": journal(settings.units, window_s, text, limit, t)}
