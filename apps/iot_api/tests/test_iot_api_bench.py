"""The benchmark script runs with one command and prints its figures (issue acceptance).

A short smoke run (2 s steps, one step per endpoint): the figures themselves are not judged
here, only that every endpoint, the CPU accounting and the no-op floor are measured and reported.
Speed is judged by running the script on demand (docs/benchmarks.md)."""
import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration
BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench", "run.py")


def test_benchmark_script_reports_every_endpoint_cpu_and_floor(tmp_path):
    out = tmp_path / "bench.json"
    res = subprocess.run([sys.executable, BENCH, "--step", "2", "--max-steps", "1",
                          "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    report = res.stdout[res.stdout.index("IoT API benchmark"):]
    for name in ("GET readings (1 dev, 10)", "GET /iot?limit=500 gzip", "GET /iot/create?n=500",
                 "POST readings x500", "GET /iot (cache off)"):
        assert name in report
    assert report.count("PASS") + report.count("FAIL") >= 4
    assert "of raw COPY" in report
    assert "floor, no-op Flask app at 2000/s" in report
    assert "floor, no-op Flask app at 500/s" in report

    results = json.loads(out.read_text())
    assert set(results["endpoints"]) == {"read", "iot", "create", "ingest", "iot_nocache"}
    for key, entry in results["endpoints"].items():
        step = entry["at_target"]
        assert step["reqs"] > 0, key
        cpu = step["cpu_ms_per_req"]
        # every party did work for every request: an accounting that misses a process shows 0
        assert cpu["k6"] > 0 and cpu["api"] > 0, (key, cpu)
        if key != "iot":  # GET /iot is served from the body cache: PostgreSQL's share is tiny
            assert cpu["postgres"] > 0, (key, cpu)
    for key in ("read", "create"):
        floor = results["floor"][key]
        assert floor["reqs"] > 0 and floor["checks_ok"] == 1.0
        assert floor["cpu_ms_per_req"]["api"] > 0
