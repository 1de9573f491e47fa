"""The Streamlit UI (streamlit.testing.v1.AppTest, offline) against the REAL HTTP API served on
127.0.0.1 by werkzeug in a thread: it shows findings and suggestions with their diff, approves
through the API (the patch file appears), and chats over the same tools."""
import os
import threading

import pytest
from streamlit.testing.v1 import AppTest
from werkzeug.serving import make_server

import dsa_agent
from dsa_agent_helpers import auth

UI = os.path.join(os.path.dirname(dsa_agent.__file__), "ui.py")


@pytest.fixture
def live_api(make_app, api_keys, inventory, k6_results, monkeypatch):
    app = make_app(inventory=inventory, results_dir=k6_results,
                   prometheus_url="http://127.0.0.1:9")
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    monkeypatch.setenv("DSA_AGENT_API_URL", f"http://127.0.0.1:{srv.server_port}")
    monkeypatch.setenv("DSA_AGENT_UI_API_KEY", api_keys["write"])
    yield app
    srv.shutdown()
    t.join()


def _run(at):
    at.run(timeout=60)
    assert not at.exception, at.exception
    return at


def test_ui_starts_an_analysis_shows_the_diff_and_approves(live_api, api_keys):
    at = _run(AppTest.from_file(UI, default_timeout=60))
    assert any("No analysis yet" in i.value for i in at.info)
    at.sidebar.text_input(key="window").set_value("5m")
    at.sidebar.button(key="start").click()
    _run(at)
    aid = at.session_state["selected"]
    live_api.extensions["dsa_agent_runner"].wait(aid, 120)
    _run(at)
    assert any("Next k6 run: reference" in m.value for m in at.markdown)
    assert any("+k6_preset: reference" in c.value for c in at.code)
    assert any("unreachable" in w.value for w in at.warning)
    at.button(key=f"approve-{aid}-s1").click()
    _run(at)
    assert any("s1 approved" in s.value for s in at.success)
    client = live_api.test_client()
    s1 = client.get(f"/api/v1/analyses/{aid}/suggestions",
                    headers=auth(api_keys["read"])).json["suggestions"][0]
    assert s1["status"] == "approved" and os.path.exists(s1["patch_file"])


def test_ui_chat_uses_the_agents_tools(live_api):
    at = _run(AppTest.from_file(UI, default_timeout=60))
    at.chat_input(key="chat_input").set_value("show me the k6 results").run(timeout=60)
    assert not at.exception
    texts = [m.value for m in at.markdown]
    assert any("k6_results" in t and "smoke-open" in t for t in texts), texts


def test_ui_reports_an_unreachable_api(monkeypatch):
    monkeypatch.setenv("DSA_AGENT_API_URL", "http://127.0.0.1:9")
    at = _run(AppTest.from_file(UI, default_timeout=60))
    assert any("unreachable" in e.value for e in at.error)
