"""Anomaly detection without a language model: robust statistics on one time series.

Three detectors look at every point after a short history:
- ``mad``: z-score of the point against the median and MAD of a trailing baseline window;
- ``ewma``: an exponentially weighted moving average leaving its control band (small,
  persistent shifts the single-point z-score misses);
- ``cusum``: a two-sided CUSUM on the robust residuals, the change point being where the sum
  last left zero (a level shift and when it began).

The baseline learns only from points that were not flagged, so a long outage does not become
"normal" halfway through. A point counts only when it is also *operationally* meaningful for its
kind (a floor on the scale and a minimum effect: an error rate under 2 % is never an anomaly,
latency must at least double and rise by 50 ms, throughput fall by 30 %). Flagged points closer
than ``gap`` merge into one
segment; a segment needs ``min_points`` points. Every finding carries its evidence.
"""
from dataclasses import dataclass, field
from statistics import median

KINDS = ("latency", "error_rate", "throughput", "resource")


@dataclass
class Params:
    window: int = 30          # trailing baseline points
    min_history: int = 8      # points before the first one scored
    z: float = 5.0            # MAD z-score threshold
    ewma_lambda: float = 0.3
    ewma_l: float = 4.0       # control band width in sigmas of the EWMA
    cusum_k: float = 1.0      # slack, in robust sigmas
    cusum_h: float = 8.0      # decision threshold, in robust sigmas
    min_points: int = 3
    gap: int = 2


@dataclass
class Finding:
    series: str
    kind: str
    query: str
    start: float
    end: float
    score: float
    methods: list[str]
    baseline: float
    scale: float
    direction: str
    peak: float
    points: list[list[float]] = field(default_factory=list)
    labels: dict = field(default_factory=dict)
    step: float | None = None

    def as_dict(self) -> dict:
        return {"id": None, "series": self.series, "kind": self.kind, "labels": self.labels,
                "window": {"start": self.start, "end": self.end},
                "summary": self.summary(),
                "evidence": {"query": self.query, "step": self.step, "score": round(self.score, 2),
                             "methods": self.methods, "baseline": self.baseline,
                             "scale": self.scale, "peak": self.peak, "direction": self.direction,
                             "points": self.points[:60]}}

    def summary(self) -> str:
        unit = {"latency": "s", "error_rate": "", "throughput": "/s", "resource": ""}[self.kind]
        if self.kind == "error_rate":
            return (f"error rate of {self.series} rose to {self.peak:.1%} "
                    f"(baseline {self.baseline:.1%}), score {self.score:.1f}")
        word = "rose" if self.direction == "up" else "fell"
        return (f"{self.kind} of {self.series} {word} to {self.peak:.4g}{unit} "
                f"(baseline {self.baseline:.4g}{unit}), score {self.score:.1f}")


def _floor(kind: str, med: float) -> float:
    if kind == "error_rate":
        return 0.005
    if kind == "latency":
        return max(0.1 * abs(med), 0.002)
    if kind == "throughput":
        return max(0.05 * abs(med), 0.5)
    return max(0.1 * abs(med), 0.01)


def _meaningful(kind: str, x: float, med: float) -> str | None:
    """'up', 'down' or None: is the deviation large enough to matter for this kind?"""
    if kind == "error_rate":
        return "up" if x >= 0.02 and x >= med + 0.02 else None
    if kind == "latency":
        return "up" if x >= 2 * med and x - med >= 0.05 else None
    if kind == "throughput":
        if med > 1 and x <= 0.7 * med:
            return "down"
        return None
    return "up" if x >= 1.3 * med and x - med >= 0.05 else None


def detect(points: list, kind: str, series: str = "", query: str = "",
           params: Params | None = None, labels: dict | None = None,
           step: float | None = None) -> list[Finding]:
    """Findings for one series of ``[t, value]`` points (sorted by t)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    p = params or Params()
    pts = [(float(t), float(v)) for t, v in points if v is not None]
    flags: list[tuple[int, float, set, str, float, float]] = []
    baseline: list[float] = []
    ewma = None
    cpos = cneg = 0.0
    cstart = None
    for i, (t, x) in enumerate(pts):
        if len(baseline) < p.min_history:
            baseline.append(x)
            ewma = x
            continue
        ref = baseline[-p.window:]
        med = median(ref)
        mad = median(abs(v - med) for v in ref)
        scale = max(1.4826 * mad, _floor(kind, med))
        z = (x - med) / scale
        ewma = p.ewma_lambda * x + (1 - p.ewma_lambda) * ewma
        ez = (ewma - med) / (scale * (p.ewma_lambda / (2 - p.ewma_lambda)) ** 0.5)
        cpos = max(0.0, cpos + z - p.cusum_k)
        cneg = max(0.0, cneg - z - p.cusum_k)
        if cpos == 0.0 and cneg == 0.0:
            cstart = None
        elif cstart is None:
            cstart = i
        methods = set()
        sign = 1 if kind != "throughput" else -1
        if sign * z >= p.z:
            methods.add("mad")
        if sign * ez >= p.ewma_l:
            methods.add("ewma")
        if (cpos if sign > 0 else cneg) >= p.cusum_h:
            methods.add("cusum")
        # Meaningful against the short and the long baseline: the return to normal after an
        # unflagged surge is no anomaly.
        long_med = median(baseline[-4 * p.window:])
        direction = _meaningful(kind, x, med)
        if direction and _meaningful(kind, x, long_med) != direction:
            direction = None
        if methods and direction:
            flags.append((i, abs(z), methods, direction, med, scale))
            # Back-fill the change point: CUSUM knows the shift began at cstart.
            if "cusum" in methods and cstart is not None and cstart < i:
                for j in range(cstart, i):
                    if _meaningful(kind, pts[j][1], med) and all(f[0] != j for f in flags):
                        flags.append((j, abs((pts[j][1] - med) / scale), {"cusum"},
                                      direction, med, scale))
                flags.sort(key=lambda f: f[0])
            ewma = ewma  # the EWMA keeps running over the anomaly on purpose
        else:
            baseline.append(x)
            if not methods:
                # back to normal: the change-point sums restart
                if abs(z) < p.cusum_k:
                    cpos = cneg = 0.0
    return _segments(flags, pts, kind, series, query, p, labels or {}, step)


def _segments(flags, pts, kind, series, query, p, labels, step) -> list[Finding]:
    out: list[Finding] = []
    group: list = []

    def close():
        if len(group) >= p.min_points:
            idx = [g[0] for g in group]
            methods = sorted(set().union(*(g[2] for g in group)))
            peak_i = max(idx, key=lambda j: abs(pts[j][1] - group[0][4]))
            out.append(Finding(series=series, kind=kind, query=query, start=pts[idx[0]][0],
                               end=pts[idx[-1]][0], score=max(g[1] for g in group),
                               methods=methods, baseline=group[0][4], scale=group[0][5],
                               direction=group[0][3], peak=pts[peak_i][1],
                               points=[[pts[j][0], pts[j][1]] for j in idx],
                               labels=labels, step=step))
    for f in flags:
        if group and f[0] - group[-1][0] > p.gap:
            close()
            group = []
        group.append(f)
    if group:
        close()
    return out
