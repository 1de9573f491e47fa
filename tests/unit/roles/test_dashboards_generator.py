"""The dashboards are code (roles/observability/dashboards/generate.py, grafanalib); the JSON the role
ships must be exactly what that code generates, so a dashboard is changed in one place only."""
import json
import runpy
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[3]
ROLE = ROOT / "roles" / "observability"
GENERATOR = runpy.run_path(str(ROLE / "dashboards" / "generate.py"))
COMMITTED = ROLE / "files" / "dashboards"


def test_committed_json_is_what_the_code_generates():
    stale = [name for name, builder in GENERATOR["DASHBOARDS"].items()
             if (COMMITTED / name).read_text() != GENERATOR["render"](builder)]
    assert not stale, f"out of date, run scripts/dashboards.py: {stale}"


def test_every_shipped_dashboard_comes_from_the_generator():
    assert sorted(p.name for p in COMMITTED.glob("*.json")) == sorted(GENERATOR["DASHBOARDS"])
    role_vars = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    assert sorted(role_vars["_observability_dashboards"]) == sorted(GENERATOR["DASHBOARDS"])


def test_check_mode_reports_a_hand_edited_file(tmp_path, capsys):
    assert GENERATOR["main"](["--out-dir", str(tmp_path)]) == 0
    assert GENERATOR["main"](["--check", "--out-dir", str(tmp_path)]) == 0
    edited = tmp_path / "iot_api.json"
    data = json.loads(edited.read_text())
    data["panels"][0]["title"] = "edited in the UI"
    edited.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    assert GENERATOR["main"](["--check", "--out-dir", str(tmp_path)]) == 1
    assert "iot_api.json" in capsys.readouterr().err
    # --check never writes: the edit is still there.
    assert "edited in the UI" in edited.read_text()


def test_generation_is_deterministic():
    for builder in GENERATOR["DASHBOARDS"].values():
        assert GENERATOR["render"](builder) == GENERATOR["render"](builder)


def test_query_variables_carry_their_definition():
    for name in GENERATOR["DASHBOARDS"]:
        data = json.loads((COMMITTED / name).read_text())
        assert data["schemaVersion"] == GENERATOR["SCHEMA_VERSION"]
        for var in data["templating"]["list"]:
            assert var["definition"] == var["query"] and var["query"].startswith("label_values(")


def test_every_query_is_valid_promql(tmp_path):
    """promtool (Debian's prometheus package, which scripts/test.sh ensures) parses every dashboard
    query, Grafana's variables filled in, as a recording rule."""
    import re
    import shutil
    import subprocess

    import pytest

    promtool = shutil.which("promtool")
    if not promtool:
        pytest.fail("promtool not installed (apt-get install prometheus; make test installs it)")
    rules = []
    for name in GENERATOR["DASHBOARDS"]:
        data = json.loads((COMMITTED / name).read_text())
        for panel in data["panels"]:
            for target in panel["targets"]:
                expr = target["expr"].replace("$__rate_interval", "1m")
                expr = re.sub(r"\$\w+", ".*", expr)
                rules.append({"record": f"dsa:check:{len(rules)}", "expr": expr})
    assert len(rules) > 40
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    proc = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # and it can fail: an unbalanced query is refused
    path.write_text(yaml.safe_dump({"groups": [{"name": "bad", "rules": [{"record": "dsa:bad", "expr": "sum(rate(up[1m])"}]}]}))
    assert subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, timeout=60).returncode != 0
