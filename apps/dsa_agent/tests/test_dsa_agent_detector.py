"""The detector: measured precision and recall on the labelled synthetic set, and the behaviour
each finding's consumer relies on (window, evidence, no alarm on noise or single spikes)."""
import os
import random
import subprocess
import sys

from dsa_agent.detect import detect

BENCH = os.path.join(os.path.dirname(__file__), "..", "bench", "detector.py")
sys.path.insert(0, os.path.dirname(BENCH))
import detector as bench  # noqa: E402


def test_precision_and_recall_on_the_labelled_set_are_at_least_0_9():
    for seed in (7, 11):
        res = bench.run(400, seed)
        assert res["labelled"] > 150
        assert res["precision"] >= 0.9, res
        assert res["recall"] >= 0.9, res


def test_the_benchmark_script_prints_its_figures():
    out = subprocess.run([sys.executable, BENCH, "--series", "80"], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert "precision" in out and "recall" in out


def _noise(n=120, base=0.02, seed=1):
    rng = random.Random(seed)
    return [[float(i), base * (1 + rng.gauss(0, 0.05))] for i in range(n)]


def test_a_latency_shift_is_found_with_its_window_and_evidence():
    pts = _noise()
    for i in range(60, 80):
        pts[i][1] = 0.5
    (f,) = detect(pts, "latency", "api p95", "histogram_quantile(...)")
    assert 58 <= f.start <= 60 and 79 <= f.end <= 80
    d = f.as_dict()
    assert d["evidence"]["query"] == "histogram_quantile(...)"
    assert d["evidence"]["score"] > 5 and d["evidence"]["baseline"] < 0.03
    assert [60.0, 0.5] in d["evidence"]["points"]
    assert {"mad", "cusum"} <= set(d["evidence"]["methods"])


def test_a_long_outage_does_not_become_the_baseline():
    pts = [[float(i), 0.0] for i in range(200)]
    for i in range(50, 150):  # 100 points of errors, longer than the baseline window
        pts[i][1] = 0.9
    (f,) = detect(pts, "error_rate")
    assert f.start == 50 and f.end == 149


def test_noise_and_isolated_spikes_are_not_anomalies():
    pts = _noise(300)
    pts[100][1] = 0.2
    pts[200][1] = 0.15
    pts[201][1] = 0.15
    assert detect(pts, "latency") == []
    assert detect([[float(i), 0.001 * (i % 3)] for i in range(200)], "error_rate") == []


def test_a_throughput_drop_is_found_but_a_surge_is_not():
    pts = [[float(i), 100.0 + (i % 5)] for i in range(150)]
    for i in range(80, 100):
        pts[i][1] = 20.0
    (f,) = detect(pts, "throughput")
    assert f.direction == "down" and 79 <= f.start <= 80
    surge = [[float(i), 100.0 if not 80 <= i < 100 else 300.0] for i in range(150)]
    assert detect(surge, "throughput") == []


def test_an_unknown_kind_is_refused():
    try:
        detect([], "temperature")
    except ValueError as e:
        assert "kind must be one of" in str(e)
    else:
        raise AssertionError("no error")
