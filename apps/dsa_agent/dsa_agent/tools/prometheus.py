"""Prometheus HTTP API: instant and range PromQL queries, target health, alerts."""
import math
import time

from . import SourceError, http_json

SOURCE = "prometheus"


def _data(url: str, path: str, params: dict, timeout: float) -> dict:
    doc = http_json(SOURCE, url, path, params, timeout)
    if doc.get("status") != "success":
        raise SourceError(SOURCE, f"query failed: {doc.get('error', doc)}")
    return doc["data"]


def _num(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) or math.isinf(f) else f


def query(url: str, expr: str, at: float | None = None, timeout: float = 10.0) -> list[dict]:
    """Instant query: ``[{metric: {labels}, value: float|None}]``."""
    params = {"query": expr, "timeout": f"{timeout:g}s"}
    if at is not None:
        params["time"] = f"{at:.3f}"
    data = _data(url, "/api/v1/query", params, timeout)
    if data.get("resultType") == "scalar":
        return [{"metric": {}, "value": _num(data["result"][1])}]
    return [{"metric": r.get("metric", {}), "value": _num(r["value"][1])}
            for r in data.get("result", [])]


def query_range(url: str, expr: str, start: float, end: float, step: float,
                timeout: float = 10.0) -> list[dict]:
    """Range query: ``[{metric: {labels}, points: [[t, v], ...]}]`` (NaN points dropped)."""
    if end <= start:
        raise ValueError("end must be after start")
    if (end - start) / step > 11000:
        raise ValueError("too many points: raise the step")
    data = _data(url, "/api/v1/query_range",
                 {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}",
                  "step": f"{step:g}", "timeout": f"{timeout:g}s"}, timeout)
    out = []
    for r in data.get("result", []):
        pts = [[float(t), _num(v)] for t, v in r.get("values", [])]
        out.append({"metric": r.get("metric", {}), "points": [p for p in pts if p[1] is not None]})
    return out


def targets(url: str, timeout: float = 10.0) -> list[dict]:
    """Active scrape targets with their health and last error."""
    data = _data(url, "/api/v1/targets", {"state": "active"}, timeout)
    return [{"job": t.get("labels", {}).get("job") or t.get("scrapePool"),
             "instance": t.get("labels", {}).get("instance"), "health": t.get("health"),
             "last_error": t.get("lastError") or "", "last_scrape": t.get("lastScrape")}
            for t in data.get("activeTargets", [])]


def alerts(url: str, timeout: float = 10.0) -> list[dict]:
    """Alerts Prometheus currently evaluates as pending or firing."""
    data = _data(url, "/api/v1/alerts", {}, timeout)
    return [{"name": a.get("labels", {}).get("alertname"), "state": a.get("state"),
             "labels": a.get("labels", {}), "active_at": a.get("activeAt"),
             "summary": (a.get("annotations") or {}).get("summary", "")}
            for a in data.get("alerts", [])]


def ready(url: str, timeout: float = 3.0) -> bool:
    try:
        query(url, "vector(1)", time.time(), timeout)
        return True
    except SourceError:
        return False
