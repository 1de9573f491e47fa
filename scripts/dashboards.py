#!/usr/bin/env python3
"""Generate the Grafana dashboards from code: roles/observability/dashboards/generate.py writes
roles/observability/files/dashboards/*.json (the files both modes ship). Needs grafanalib
(requirements-dev.txt). `--check` only compares and exits 1 when a committed file is out of date."""
import runpy
import sys
from pathlib import Path

GENERATOR = Path(__file__).resolve().parents[1] / "roles" / "observability" / "dashboards" / "generate.py"

if __name__ == "__main__":
    sys.exit(runpy.run_path(str(GENERATOR))["main"]())
