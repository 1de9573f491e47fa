"""The analysis as Markdown (what `dsa-agent analyze --out` writes)."""
import json
import time


def _ts(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


def markdown(result: dict) -> str:
    c = result["collected"]
    w = c["window"]
    lines = [f"# dsa-agent analysis {result.get('id', '')}", "",
             f"Window: {_ts(w['start'])} to {_ts(w['end'])} ({w['seconds']} s, step {w['step']:g} s)."
             f" Targets: {', '.join(c['targets'])}.", ""]
    n = result.get("narrative") or {}
    lines += ["## Summary", "", n.get("analyst", "")]
    for key, title in (("analyst_llm", "Analyst (language model)"),
                       ("judge_llm", "Judge (language model)")):
        if n.get(key):
            lines += ["", f"**{title}:** {n[key]}"]
    errors = result.get("errors") or []
    if errors:
        lines += ["", "## Errors", ""] + [f"- {e}" for e in errors]
    lines += ["", "## Findings", ""]
    if not c["findings"]:
        lines.append("None.")
    for f in c["findings"]:
        ev = f["evidence"]
        lines += [f"### {f['id']}: {f['summary']}", "",
                  f"- window: {_ts(f['window']['start'])} to {_ts(f['window']['end'])}",
                  f"- methods: {', '.join(ev['methods'])}; score {ev['score']}",
                  f"- query: `{ev['query']}`",
                  f"- points: {json.dumps(ev['points'][:10])}", ""]
    fc = result.get("forecast") or {}
    if fc.get("projected_rate") is not None:
        lines += ["## Load forecast", "",
                  f"Mean {fc['mean_rate']:.2f} req/s, peak {fc['peak_rate']:.2f}, projected"
                  f" {fc['projected_rate']:.2f} req/s in {fc['horizon_s']:.0f} s"
                  f" ({fc['method']}).", ""]
    lines += ["## Suggestions", ""]
    if not result.get("suggestions"):
        lines.append("None: the measured load fits the current settings.")
    for s in result.get("suggestions") or []:
        lines += [f"### {s['id']} ({s['status']}): {s['title']}", "", s["rationale"], "",
                  f"- judgement: {s.get('judgement', '')}",
                  f"- check: {(s.get('validation') or {}).get('detail', 'not run')}", ""]
        if s.get("diff"):
            lines += ["```diff", s["diff"].rstrip(), "```", ""]
    if result.get("tool_calls"):
        lines += ["## Tool calls", ""] + [f"- `{t['name']}({json.dumps(t['args'])})`"
                                          for t in result["tool_calls"]]
    return "\n".join(lines) + "\n"
