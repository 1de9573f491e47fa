"""Precision and recall of dsa_agent.detect on a labelled synthetic set (seeded, reproducible).

Each series is 240 points at 1 s of one kind (latency, error rate, throughput, resource) with
realistic noise: Gaussian jitter, slow drift, and isolated one- or two-point spikes that are NOT
anomalies. Half of the series get one labelled anomaly of 8 to 40 points: a level shift, a burst,
or a ramp. A finding is a true positive when it overlaps a labelled interval, else a false
positive; a labelled anomaly no finding overlaps is a miss.

    python apps/dsa_agent/bench/detector.py [--series 400] [--seed 7]
"""
import argparse
import json
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from dsa_agent.detect import KINDS, detect  # noqa: E402


def _series(rng: random.Random, kind: str, n: int = 240):
    if kind == "latency":
        base, noise = rng.uniform(0.02, 0.3), rng.uniform(0.03, 0.12)
    elif kind == "error_rate":
        base, noise = rng.choice([0.0, 0.0, 0.001, 0.004]), 0.0
    elif kind == "throughput":
        base, noise = rng.uniform(20, 2000), rng.uniform(0.01, 0.05)
    else:
        base, noise = rng.uniform(0.1, 0.6), rng.uniform(0.02, 0.06)
    drift = rng.uniform(-0.1, 0.1)
    values = []
    for i in range(n):
        level = base * (1 + drift * i / n)
        if kind == "error_rate":
            v = max(0.0, level + (rng.random() < 0.05) * rng.uniform(0, 0.01))
        else:
            v = max(0.0, level * (1 + rng.gauss(0, noise)))
        values.append(v)
    for _ in range(rng.randint(0, 3)):  # benign isolated spikes
        j = rng.randrange(10, n)
        for k in range(rng.randint(1, 2)):
            if j + k < n:
                values[j + k] *= (0.5 if kind == "throughput" else rng.uniform(2, 4)) \
                    if kind != "error_rate" else 1
                if kind == "error_rate":
                    values[j + k] = rng.uniform(0.02, 0.2)
    return base, values


def _inject(rng: random.Random, kind: str, base: float, values: list):
    n = len(values)
    length = rng.randint(8, 40)
    start = rng.randint(40, n - length - 1)
    shape = rng.choice(["shift", "burst", "ramp"])
    for k in range(length):
        i = start + k
        frac = (k + 1) / length if shape == "ramp" else 1.0
        if kind == "latency":
            factor = rng.uniform(3, 8) if shape == "burst" else 1 + 4 * frac
            values[i] = values[i] * factor
        elif kind == "error_rate":
            values[i] = min(1.0, max(values[i], (0.05 + 0.6 * rng.random()) * frac + 0.03))
        elif kind == "throughput":
            values[i] = values[i] * (1 - 0.6 * frac) if shape != "burst" else values[i] * 0.2
        else:
            values[i] = min(1.0, values[i] + (0.35 + 0.3 * rng.random()) * frac + 0.05)
    return (start, start + length - 1)


def run(n_series: int = 400, seed: int = 7) -> dict:
    rng = random.Random(seed)
    tp = fp = fn = detected = labelled = 0
    per_kind = {k: {"tp": 0, "fp": 0, "fn": 0} for k in KINDS}
    for s in range(n_series):
        kind = KINDS[s % len(KINDS)]
        base, values = _series(rng, kind)
        label = _inject(rng, kind, base, values) if rng.random() < 0.5 else None
        findings = detect([[float(i), v] for i, v in enumerate(values)], kind, f"s{s}")
        hit = False
        for f in findings:
            if label and f.start <= label[1] and f.end >= label[0]:
                tp += 1
                per_kind[kind]["tp"] += 1
                hit = True
            else:
                fp += 1
                per_kind[kind]["fp"] += 1
        if label:
            labelled += 1
            if hit:
                detected += 1
            else:
                fn += 1
                per_kind[kind]["fn"] += 1
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = detected / labelled if labelled else 1.0
    return {"series": n_series, "seed": seed, "labelled": labelled, "true_positives": tp,
            "false_positives": fp, "missed": fn, "precision": round(precision, 4),
            "recall": round(recall, 4), "per_kind": per_kind}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=400)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", action="store_true", help="print the JSON result only")
    args = ap.parse_args(argv)
    res = run(args.series, args.seed)
    if args.json:
        print(json.dumps(res))
    else:
        print(f"series {res['series']} (seed {res['seed']}), labelled anomalies {res['labelled']}")
        print(f"precision {res['precision']:.3f}  recall {res['recall']:.3f}  "
              f"(tp {res['true_positives']}, fp {res['false_positives']}, missed {res['missed']})")
        for k, v in res["per_kind"].items():
            print(f"  {k:<11} tp {v['tp']:>3}  fp {v['fp']:>3}  missed {v['fn']:>3}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
