"""The analyst -> predictor -> judge -> executor chain. The language model is the one stand-in
(ScriptedChatModel, named so): it replays scripted messages, but its tool calls run the REAL
tools on real data (k6 results from a real k6 run, a copy of a real inventory) and the results
it is shown are theirs. Provider none runs the same graph on rules alone."""
import os
import socket
import subprocess
import sys
import time

from langchain_core.messages import AIMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from dsa_agent import graph, llm, report
from dsa_agent.config import Settings
from dsa_agent_helpers import SEEN, ScriptedChatModel, tool_call


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _settings(tmp_path, inventory, k6_results, **kw):
    return Settings.from_env({"prometheus_url": f"http://127.0.0.1:{_closed_port()}",
                              "results_dir": k6_results, "inventory": inventory,
                              "state_dir": str(tmp_path / "state"), "source_timeout": "2",
                              "journal_units": "none.service", **kw}, environ={})


def test_stand_in_model_drives_real_tool_calls_and_structured_judgement(tmp_path, inventory,
                                                                         k6_results):
    SEEN.clear()
    model = ScriptedChatModel(messages=iter([
        tool_call("k6_results", {}, "c1"),
        tool_call("platform_state", {}, "c2"),
        AIMessage(content="The smoke run was clean; Prometheus could not be read."),
        tool_call("Verdict", {"explanations": {"s1": "a clean smoke run supports a longer one"},
                              "rejected": [], "summary": "One supported suggestion."}, "j1"),
    ]))
    out = graph.run(_settings(tmp_path, inventory, k6_results), 120, ["iot_api"], "ok?",
                    model=model)
    assert [c["name"] for c in out["tool_calls"]] == ["k6_results", "platform_state"]
    assert "smoke-open" in out["tool_calls"][0]["result"]     # the real k6 summary
    assert "dsa-local-app" in out["tool_calls"][1]["result"]  # the real inventory
    # The model was shown the tools' real answers.
    shown = [m for m in SEEN[2] if isinstance(m, ToolMessage)]
    assert "smoke-open" in shown[0].content
    (s,) = out["suggestions"]
    assert s["patch"] == {"loadgen": {"k6_preset": "reference"}}
    assert s["judgement_llm"] == "a clean smoke run supports a longer one"
    assert s["validation"]["ok"] is True, s["validation"]
    assert out["narrative"]["analyst_llm"].startswith("The smoke run was clean")
    assert out["narrative"]["judge_llm"] == "One supported suggestion."
    assert any("prometheus" in e and "unreachable" in e for e in out["errors"])


def test_the_judge_rejects_what_the_model_rejects_and_what_has_no_evidence(tmp_path, inventory,
                                                                           k6_results):
    model = ScriptedChatModel(messages=iter([
        AIMessage(content="Nothing to add."),
        tool_call("Verdict", {"explanations": {}, "rejected": ["s1"], "summary": ""}, "j1"),
    ]))
    out = graph.run(_settings(tmp_path, inventory, k6_results), 120, ["iot_api"], model=model)
    assert out["suggestions"][0]["status"] == "rejected"
    assert "diff" not in out["suggestions"][0]


def test_provider_none_end_to_end_writes_a_useful_report(tmp_path, inventory, k6_results):
    s = _settings(tmp_path, inventory, k6_results)
    assert llm.make_model(s) is None
    out = graph.run(s, 300, None, "anything wrong?")
    md = report.markdown({"id": "t", **out})
    assert "## Findings" in md and "Next k6 run: reference" in md
    assert "+k6_preset: reference" in md  # the diff of the patch
    assert "validate.yml --tags inventory passed" in md
    assert "prometheus" in md and "unreachable" in md


def test_cli_analyze_offline_prints_where_the_report_is(tmp_path, inventory, k6_results):
    env = {**os.environ, "DSA_AGENT_PROMETHEUS_URL": f"http://127.0.0.1:{_closed_port()}",
           "DSA_AGENT_RESULTS_DIR": k6_results, "DSA_AGENT_INVENTORY": inventory,
           "DSA_AGENT_STATE_DIR": str(tmp_path / "st"), "DSA_AGENT_SOURCE_TIMEOUT": "2",
           "DSA_AGENT_LLM_PROVIDER": "none"}
    out = tmp_path / "report.md"
    exe = os.path.join(os.path.dirname(sys.executable), "dsa-agent")
    proc = subprocess.run([exe, "analyze", "--window", "15m", "--out", str(out)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(out)
    assert "Next k6 run: reference" in out.read_text()
    bad = subprocess.run([exe, "analyze", "--window", "2d"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "--window" in bad.stderr and "Traceback" not in bad.stderr


def test_nothing_is_applied_until_the_interrupt_is_answered(tmp_path, inventory, k6_results):
    s = _settings(tmp_path, inventory, k6_results)
    g = graph.build(s, None, InMemorySaver())
    cfg = {"configurable": {"thread_id": "a1"}}
    first = g.invoke({"id": "a1", "window_s": 120, "targets": ["iot_api"], "question": "",
                      "approval": True, "errors": []}, cfg)
    (pending,) = first["__interrupt__"]
    assert pending.value["pending"] == ["s1"]
    patch = tmp_path / "state" / "patches" / "a1-s1.yml"
    assert not patch.exists()
    done = g.invoke(Command(resume={"s1": "approve"}), cfg)
    assert done["suggestions"][0]["status"] == "approved"
    text = patch.read_text()
    assert "k6_preset: reference" in text and "group_vars/loadgen.yml" in text


def test_an_unreachable_model_is_a_clear_error_not_a_hang(tmp_path, inventory, k6_results):
    port = _closed_port()
    s = _settings(tmp_path, inventory, k6_results, llm_provider="openai",
                  llm_base_url=f"http://127.0.0.1:{port}/v1", llm_model="m", llm_timeout="3")
    t0 = time.monotonic()
    out = graph.run(s, 120, ["iot_api"], model=llm.make_model(s))
    assert time.monotonic() - t0 < 60
    errs = [e for e in out["errors"] if e.startswith("llm:")]
    assert errs and f"127.0.0.1:{port}" in errs[0] and "rules alone" in errs[0]
    assert out["suggestions"][0]["title"] == "Next k6 run: reference"
