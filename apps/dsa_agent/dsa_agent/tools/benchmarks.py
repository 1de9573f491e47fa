"""k6 results as ``dsa.platform.k6_run`` and ``k6_report`` write them:
``<results_dir>/<configuration>/<scenario>/summary.json`` (the handleSummary JSON with the
``dsa`` block) and ``report.csv`` (one row per configuration and scenario)."""
import csv
import json
import os

from . import SourceError

_PCT = (("avg", "avg"), ("p50", "med"), ("p90", "p(90)"), ("p95", "p(95)"), ("p99", "p(99)"),
        ("max", "max"))


def parse_summary(doc: dict) -> dict:
    if not isinstance(doc, dict) or not isinstance(doc.get("metrics"), dict):
        raise ValueError('not a k6 handleSummary document (no "metrics" mapping)')
    m = doc["metrics"]

    def vals(name):
        return (m.get(name) or {}).get("values") or {}
    dur, reqs, failed = vals("http_req_duration"), vals("http_reqs"), vals("http_req_failed")
    dsa = doc.get("dsa") or {}
    sched = dsa.get("schedule") or {}
    duration_s = float((doc.get("state") or {}).get("testRunDurationMs") or 0) / 1000.0
    offered = None
    if sched.get("counts"):
        slice_s = float(sched.get("slice") or 1.0)
        offered = sum(sched["counts"]) / max(slice_s * len(sched["counts"]), 1e-9)
    return {
        "requests": int(reqs.get("count") or 0),
        "achieved_rate": float(reqs.get("rate") or 0.0),
        "offered_rate": offered,
        "latency_ms": {k: float(dur.get(src) or 0.0) for k, src in _PCT},
        "failure_rate": float(failed.get("rate") or 0.0),
        "dropped_iterations": int(vals("dropped_iterations").get("count") or 0),
        "vus_max": int(vals("vus_max").get("max") or vals("vus_max").get("value") or 0),
        "duration_s": duration_s,
        "model": dsa.get("model"),
        "thresholds_ok": all(bool(t.get("ok")) for met in m.values()
                             for t in (met.get("thresholds") or {}).values()),
    }


def results(results_dir: str) -> dict:
    """Every run under ``results_dir``, plus the rows of any report.csv found there."""
    if not results_dir:
        raise SourceError("k6 results", "not configured (DSA_AGENT_RESULTS_DIR)")
    if not os.path.isdir(results_dir):
        raise SourceError("k6 results", f"{results_dir} does not exist")
    runs, errors, reports = [], [], []
    for conf in sorted(os.listdir(results_dir)):
        cdir = os.path.join(results_dir, conf)
        if not os.path.isdir(cdir):
            continue
        for scen in sorted(os.listdir(cdir)):
            path = os.path.join(cdir, scen, "summary.json")
            if not os.path.isfile(path):
                continue
            try:
                with open(path, encoding="utf-8") as f:
                    parsed = parse_summary(json.load(f))
            except (OSError, ValueError) as e:
                errors.append(f"{path}: {e}")
                continue
            runs.append({"configuration": conf, "scenario": scen, "path": path,
                         "mtime": os.path.getmtime(path), **parsed})
    for root, _dirs, files in os.walk(results_dir):
        if "report.csv" in files:
            with open(os.path.join(root, "report.csv"), encoding="utf-8", newline="") as f:
                reports.append({"path": os.path.join(root, "report.csv"),
                                "rows": list(csv.DictReader(f))})
    return {"runs": runs, "reports": reports, "errors": errors}
