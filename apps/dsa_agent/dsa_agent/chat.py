"""A question to the agent over the same tools: the language model when one is configured,
else a rule that picks the tool from the question's words and answers from its output."""
import json
import re

from .agent_tools import for_model, make_tools
from .llm import describe_error

_ROUTES = [(r"alert", "prometheus_alerts", {}), (r"target|scrape|down", "prometheus_targets", {}),
           (r"k6|bench|load test|preset", "k6_results", {}),
           (r"log|journal", "search_logs", {"text": "error", "minutes": 15}),
           (r"pod|node|cluster|host|inventory", "platform_state", {})]


def answer(settings, message: str, model=None) -> dict:
    tools = {t.__name__: t for t in make_tools(settings)}
    if model is not None:
        from langchain.agents import create_agent
        from langchain_core.messages import HumanMessage

        from .graph import ANALYST_PROMPT
        try:
            agent = create_agent(model, for_model(list(tools.values())),
                                 system_prompt=ANALYST_PROMPT)
            res = agent.invoke({"messages": [HumanMessage(message)]},
                               config={"recursion_limit": 12})
            from .graph import _messages_to_calls
            return {"answer": str(res["messages"][-1].content),
                    "tool_calls": _messages_to_calls(res["messages"]), "errors": []}
        except Exception as e:
            err = describe_error(settings, e)
            return {**_rules(tools, message), "errors": [err]}
    return {**_rules(tools, message), "errors": []}


def _rules(tools, message: str) -> dict:
    m = message.lower()
    for pattern, name, args in _ROUTES:
        if re.search(pattern, m):
            break
    else:
        name, args = "detect_anomalies", {
            "expr": 'sum(rate(iot_api_http_requests_total{status=~"5.."}[1m]))'
                    ' / sum(rate(iot_api_http_requests_total[1m]))',
            "kind": "error_rate", "minutes": 15}
    result = tools[name](**args)
    if isinstance(result, dict) and "error" in result:
        text = f"I asked {name} and it failed: {result['error']}"
    elif isinstance(result, list):
        text = f"{name} returned {len(result)} item(s)." + (
            " " + "; ".join(json.dumps(r, default=str)[:200] for r in result[:5]) if result else "")
    else:
        text = f"{name}: " + json.dumps(result, default=str)[:1500]
    return {"answer": text, "tool_calls": [{"name": name, "args": args,
                                            "result": json.dumps(result, default=str)[:2000]}]}
