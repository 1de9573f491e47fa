"""The multi-agent chain as a LangGraph graph:

analyst (collects and detects) -> predictor (projects the load) -> judge (ranks, explains,
rejects suggestions without evidence) -> executor (checks each patch against the inventory and
waits for a person's decision through a LangGraph ``interrupt``).

With a language model the analyst is a tool-calling agent (``langchain.agents.create_agent``)
over the same tools, and the judge answers with structured output; with provider ``none`` (or
when the model fails) the same graph runs on the rules and templates alone.
"""
import logging
import math
import time
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from pydantic import BaseModel, Field

from . import collect as col
from . import executor, inventory
from . import suggest as sug
from .agent_tools import for_model, make_tools
from .llm import describe_error

log = logging.getLogger("dsa_agent.graph")

ANALYST_PROMPT = (
    "You are the analyst of an IoT platform's operations team. The deterministic detector has "
    "already run; its findings are below. Use the tools to gather more evidence where it helps "
    "(PromQL, logs, platform state, k6 results), then explain in a few sentences what happened, "
    "when, and which evidence shows it. Never invent numbers: quote the tools.")
JUDGE_PROMPT = (
    "You are the judge. For each suggestion, say in one sentence whether its evidence supports "
    "it. Reject (by id) any whose evidence does not support it. Answer in the required format.")


class Verdict(BaseModel):
    """The judge's answer."""
    explanations: dict[str, str] = Field(default_factory=dict,
                                         description="suggestion id -> one-sentence explanation")
    rejected: list[str] = Field(default_factory=list, description="ids to reject")
    summary: str = Field("", description="two sentences for the report")


class State(TypedDict, total=False):
    id: str
    window_s: int
    targets: list
    question: str
    end: float | None
    approval: bool
    collected: dict
    forecast: dict
    suggestions: list
    narrative: dict
    tool_calls: list
    errors: list
    decisions: dict


def _messages_to_calls(messages) -> list[dict]:
    calls, results = [], {}
    for m in messages:
        if getattr(m, "type", "") == "tool":
            results[m.tool_call_id] = str(m.content)[:2000]
    for m in messages:
        for tc in getattr(m, "tool_calls", None) or []:
            calls.append({"name": tc["name"], "args": tc["args"],
                          "result": results.get(tc["id"], "")})
    return calls


def build(settings, model=None, checkpointer=None):
    tools = for_model(make_tools(settings))

    def analyst(state: State) -> dict:
        collected = col.collect(settings, state["window_s"], state.get("targets"),
                                state.get("end"))
        errors = list(collected["errors"])
        narrative = {"analyst": _template_analysis(collected)}
        calls: list = []
        if model is not None:
            from langchain.agents import create_agent
            from langchain_core.messages import HumanMessage
            brief = "\n".join(f"- {f['id']}: {f['summary']}" for f in collected["findings"]) \
                or "- none"
            question = state.get("question") or "What is wrong, if anything?"
            try:
                agent = create_agent(model, tools, system_prompt=ANALYST_PROMPT)
                res = agent.invoke({"messages": [HumanMessage(
                    f"Question: {question}\nWindow: last {state['window_s']} s\n"
                    f"Detector findings:\n{brief}")]}, config={"recursion_limit": 16})
                calls = _messages_to_calls(res["messages"])
                text = res["messages"][-1].content
                if text:
                    narrative["analyst_llm"] = str(text)
            except Exception as e:  # any provider failure: the rules still answer
                errors.append(describe_error(settings, e))
        return {"collected": collected, "errors": errors, "narrative": narrative,
                "tool_calls": calls}

    def predictor(state: State) -> dict:
        collected = state["collected"]
        load = dict(collected.get("load") or {})
        forecast = project(load.get("throughput_points") or [], state["window_s"])
        if forecast.get("projected_rate") and load.get("arrival_rate"):
            load["arrival_rate"] = max(load["arrival_rate"], forecast["projected_rate"])
        cur = inventory.current(settings.inventory_dir)
        cands = sug.suggest(collected["findings"], load, cur["values"], collected["k6_runs"],
                            "kubernetes" if settings.kubeconfig else "host")
        for s in cands:
            s["current_source"] = {k: cur["source"].get(k) for k in s["current"]}
        return {"forecast": forecast, "suggestions": cands}

    def judge(state: State) -> dict:
        ranked = sorted(state["suggestions"],
                        key=lambda s: (-s["confidence"], -len(s["evidence"])))
        errors = list(state.get("errors") or [])
        for s in ranked:
            if not s["evidence"]:
                s["status"], s["judgement"] = "rejected", "rejected: no evidence"
            else:
                s["judgement"] = (f"supported by {len(s['evidence'])} measurement(s): "
                                  + ", ".join(str(e.get("measurement") or e.get("finding"))
                                              for e in s["evidence"]))
        narrative = dict(state.get("narrative") or {})
        if model is not None and ranked:
            from langchain.agents import create_agent
            from langchain.agents.structured_output import ToolStrategy
            from langchain_core.messages import HumanMessage
            text = "\n".join(f"{s['id']}: {s['title']} | {s['rationale']} | evidence:"
                             f" {s['evidence']}" for s in ranked)
            try:
                agent = create_agent(model, [], system_prompt=JUDGE_PROMPT,
                                     response_format=ToolStrategy(Verdict))
                res = agent.invoke({"messages": [HumanMessage(text)]},
                                   config={"recursion_limit": 6})
                verdict = res.get("structured_response")
                if isinstance(verdict, Verdict):
                    for s in ranked:
                        if s["id"] in verdict.explanations:
                            s["judgement_llm"] = verdict.explanations[s["id"]]
                        if s["id"] in verdict.rejected and s["status"] == "proposed":
                            s["status"], s["judgement"] = "rejected", "rejected by the judge"
                    if verdict.summary:
                        narrative["judge_llm"] = verdict.summary
            except Exception as e:
                errors.append(describe_error(settings, e))
        for rank, s in enumerate(ranked, 1):
            s["rank"] = rank
        return {"suggestions": ranked, "errors": errors, "narrative": narrative}

    def execute(state: State) -> dict:
        inv = settings.inventory_dir
        for s in state["suggestions"]:
            if s["status"] != "proposed":
                continue
            s["diff"] = inventory.diff(inv, s["patch"])
            s["validation"] = inventory.validate(inv, s["patch"])
            if s["validation"]["ok"] is False:
                s["status"] = "invalid"
        pending = [s["id"] for s in state["suggestions"] if s["status"] == "proposed"]
        decisions: dict = {}
        if state.get("approval") and pending:
            # Nothing is applied until a person answers: the graph stops here.
            answer = interrupt({"analysis": state["id"], "pending": pending,
                                "suggestions": [s for s in state["suggestions"]
                                                if s["id"] in pending]})
            decisions = answer if isinstance(answer, dict) else {}
            for sid, decision in decisions.items():
                s = next((x for x in state["suggestions"] if x["id"] == sid), None)
                if s is not None and s["status"] == "proposed":
                    executor.apply_decision(settings, state["id"], s, decision)
        return {"suggestions": state["suggestions"], "decisions": decisions}

    g = StateGraph(State)
    g.add_node("analyst", analyst)
    g.add_node("predictor", predictor)
    g.add_node("judge", judge)
    g.add_node("executor", execute)
    g.add_edge(START, "analyst")
    g.add_edge("analyst", "predictor")
    g.add_edge("predictor", "judge")
    g.add_edge("judge", "executor")
    g.add_edge("executor", END)
    return g.compile(checkpointer=checkpointer)


def project(points: list, horizon_s: float) -> dict:
    """Least-squares trend of the arrival rate, projected ``horizon_s`` past the last point."""
    pts = [(t, v) for t, v in points if v is not None and math.isfinite(v)]
    if len(pts) < 5:
        return {"method": "none", "detail": "not enough history"}
    n = len(pts)
    mt = sum(t for t, _ in pts) / n
    mv = sum(v for _, v in pts) / n
    var = sum((t - mt) ** 2 for t, _ in pts)
    slope = sum((t - mt) * (v - mv) for t, v in pts) / var if var else 0.0
    at = pts[-1][0] + horizon_s
    projected = max(0.0, mv + slope * (at - mt))
    peak = max(v for _, v in pts)
    return {"method": "linear trend", "mean_rate": mv, "peak_rate": peak,
            "slope_per_s": slope, "horizon_s": horizon_s, "projected_rate": projected}


def _template_analysis(collected: dict) -> str:
    f = collected["findings"]
    w = collected["window"]
    prom_down = any(e.startswith("prometheus") for e in collected["errors"])
    if not f and prom_down:
        text = (f"Nothing could be checked for the last {w['seconds']} s: the metrics were not"
                " readable.")
    elif not f:
        text = f"No anomaly in the last {w['seconds']} s on {', '.join(collected['targets'])}."
    else:
        parts = []
        for x in f:
            a = time.strftime("%H:%M:%S", time.gmtime(x["window"]["start"]))
            b = time.strftime("%H:%M:%S", time.gmtime(x["window"]["end"]))
            parts.append(f"{x['summary']} from {a} to {b} UTC ({', '.join(x['evidence']['methods'])})")
        text = f"{len(f)} anomal{'y' if len(f) == 1 else 'ies'}: " + "; ".join(parts) + "."
    if collected["errors"]:
        text += " Some sources could not be read: " + "; ".join(collected["errors"]) + "."
    return text


def run(settings, window_s: int, targets: list | None = None, question: str = "",
        end: float | None = None, model: Any = None, analysis_id: str = "cli",
        approval: bool = False, checkpointer=None) -> dict:
    graph = build(settings, model, checkpointer)
    cfg = {"configurable": {"thread_id": analysis_id}}
    out = graph.invoke({"id": analysis_id, "window_s": window_s, "targets": targets or [],
                        "question": question, "end": end, "approval": approval,
                        "errors": []}, cfg)
    return out
