"""The HTTP API: keys, precise 4xx, rate limiting with Retry-After, a source that is down gives a
clear error in the result (never a 500), approval writes the patch file, the OpenAPI document
matches the routes, and the real gunicorn serves it all."""
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from service_testing import http_ok, wait_until

from dsa_agent import keys
from dsa_agent.openapi import document
from dsa_agent_helpers import auth, free_port


def _closed() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


def _finish(app, client, key, body):
    r = client.post("/api/v1/analyses", json=body, headers=auth(key))
    assert r.status_code == 202, r.json
    assert r.headers["Location"] == f"/api/v1/analyses/{r.json['id']}"
    app.extensions["dsa_agent_runner"].wait(r.json["id"], 120)
    return client.get(r.headers["Location"], headers=auth(key)).json


def test_keys_are_required_and_scoped(make_app, api_keys):
    c = make_app().test_client()
    r = c.get("/api/v1/analyses")
    assert r.status_code == 401 and r.mimetype == "application/problem+json"
    assert "WWW-Authenticate" in r.headers
    assert c.get("/api/v1/analyses", headers=auth("dsak_wrong")).status_code == 401
    assert c.get("/api/v1/analyses", headers={"X-API-Key": api_keys["read"]}).status_code == 200
    r = c.post("/api/v1/analyses", json={"window": "5m"}, headers=auth(api_keys["read"]))
    assert r.status_code == 403 and "'write' scope" in r.json["detail"]


def test_only_digests_are_stored_and_revocation_takes_effect(make_app, api_keys, state_dir):
    path = os.path.join(state_dir, "api_keys.json")
    text = open(path).read()
    assert api_keys["read"] not in text and keys.digest(api_keys["read"]) in text
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    c = make_app().test_client()
    read_id = next(e["id"] for e in keys.listing(path) if e["scope"] == "read")
    assert keys.revoke(path, read_id)
    time.sleep(0.01)
    assert c.get("/api/v1/analyses", headers=auth(api_keys["read"])).status_code == 401


@pytest.mark.parametrize("body,status,field", [
    ({"window": "10s"}, 422, "window"),
    ({"window": "25h"}, 422, "window"),
    ({"window": "fifteen"}, 422, "window"),
    ({"window": 15}, 422, "window"),
    ({"window": "5m", "targets": ["iot_api", "mainframe"]}, 422, "targets"),
    ({"window": "5m", "question": "x" * 2001}, 422, "question"),
    ({"window": "5m", "colour": "red"}, 422, "colour"),
    ({}, 422, "window"),
    ({"window": "5m", "end": "yesterday"}, 422, "end"),
    ([1, 2], 422, "body"),
])
def test_bad_requests_name_the_field(make_app, api_keys, body, status, field):
    c = make_app().test_client()
    r = c.post("/api/v1/analyses", json=body, headers=auth(api_keys["write"]))
    assert r.status_code == status, r.json
    assert r.mimetype == "application/problem+json"
    assert field in [e["field"] for e in r.json["errors"]], r.json
    assert "mainframe" in json.dumps(r.json) if field == "targets" else True


def test_malformed_json_oversize_and_wrong_type(make_app, api_keys):
    c = make_app().test_client()
    h = auth(api_keys["write"])
    r = c.post("/api/v1/analyses", data='{"window": ', content_type="application/json", headers=h)
    assert r.status_code == 400 and r.json["detail"] == "the body is not valid JSON"
    r = c.post("/api/v1/analyses", data="window=5m", headers=h)
    assert r.status_code == 415
    r = c.post("/api/v1/analyses", data="{" + " " * 70000 + "}", content_type="application/json",
               headers=h)
    assert r.status_code == 413
    assert c.get("/api/v1/analyses/nope", headers=h).status_code == 404
    assert c.get("/api/v1/analyses/../../etc", headers=h).status_code == 404


def test_rate_limit_per_key_with_retry_after(make_app, api_keys):
    c = make_app(rate_limit="3/minute").test_client()
    h = auth(api_keys["read"])
    codes = [c.get("/api/v1/analyses", headers=h).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    r = c.get("/api/v1/analyses", headers=h)
    assert r.status_code == 429 and 1 <= int(r.headers["Retry-After"]) <= 61
    # another key has its own budget; health checks are never limited
    assert c.get("/api/v1/analyses", headers=auth(api_keys["admin"])).status_code == 200
    assert all(c.get("/healthz").status_code == 200 for _ in range(5))


def test_an_unreachable_prometheus_is_an_error_in_the_result(make_app, api_keys):
    app = make_app(prometheus_url=_closed())
    c = app.test_client()
    t0 = time.monotonic()
    doc = _finish(app, c, api_keys["write"], {"window": "5m", "targets": ["iot_api"]})
    assert time.monotonic() - t0 < 30
    assert doc["status"] == "done"
    assert any("prometheus" in e and "unreachable" in e for e in doc["result"]["errors"])


def test_an_unreachable_model_is_an_error_in_the_result(make_app, api_keys):
    app = make_app(prometheus_url=_closed(), llm_provider="ollama",
                   llm_base_url=_closed(), llm_model="m", llm_timeout="3")
    c = app.test_client()
    doc = _finish(app, c, api_keys["write"], {"window": "5m", "question": "why?"})
    assert doc["status"] == "done"
    assert any(e.startswith("llm: ollama") for e in doc["result"]["errors"]), doc["result"]["errors"]


def test_approve_writes_the_patch_reject_records_it(make_app, api_keys, inventory, k6_results,
                                                   state_dir):
    app = make_app(prometheus_url=_closed(), inventory=inventory, results_dir=k6_results)
    c = app.test_client()
    h = auth(api_keys["write"])
    doc = _finish(app, c, api_keys["write"], {"window": "5m"})
    aid = doc["id"]
    (s,) = c.get(f"/api/v1/analyses/{aid}/suggestions", headers=h).json["suggestions"]
    assert s["status"] == "proposed" and "+k6_preset: reference" in s["diff"]
    assert s["evidence"] and s["validation"]["ok"] is True
    assert not os.path.exists(os.path.join(state_dir, "patches"))  # nothing before approval
    r = c.post(f"/api/v1/analyses/{aid}/suggestions/{s['id']}/approve", headers=h)
    assert r.status_code == 200 and r.json["status"] == "approved"
    assert r.json["decided_by"] == "test-write"
    assert "k6_preset: reference" in open(r.json["patch_file"]).read()
    again = c.post(f"/api/v1/analyses/{aid}/suggestions/{s['id']}/reject", headers=h)
    assert again.status_code == 409
    assert c.post(f"/api/v1/analyses/{aid}/suggestions/s9/approve", headers=h).status_code == 404
    stored = c.get(f"/api/v1/analyses/{aid}", headers=h).json
    assert stored["result"]["suggestions"][0]["status"] == "approved"
    doc2 = _finish(app, c, api_keys["write"], {"window": "5m"})
    r = c.post(f"/api/v1/analyses/{doc2['id']}/suggestions/s1/reject", headers=h,
               json={"comment": "not now"})
    assert r.json["status"] == "rejected" and "patch_file" not in r.json
    listing = c.get("/api/v1/analyses", headers=h).json["analyses"]
    assert {a["id"] for a in listing} == {aid, doc2["id"]}
    f = c.get(f"/api/v1/analyses/{aid}/findings", headers=h)
    assert f.status_code == 200 and f.json == {"findings": []}


def test_chat_answers_from_a_real_tool(make_app, api_keys, k6_results):
    c = make_app(results_dir=k6_results).test_client()
    r = c.post("/api/v1/chat", json={"message": "what did the last k6 run show?"},
               headers=auth(api_keys["read"]))
    assert r.status_code == 200
    assert r.json["tool_calls"][0]["name"] == "k6_results" and "smoke-open" in r.json["answer"]
    r = c.post("/api/v1/chat", json={"message": ""}, headers=auth(api_keys["read"]))
    assert r.status_code == 422 and r.json["errors"][0]["field"] == "message"


def test_the_openapi_document_matches_the_routes(make_app):
    app = make_app()
    doc = document()
    routes = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        routes.setdefault(path, set()).update(m.lower() for m in rule.methods
                                              if m not in ("HEAD", "OPTIONS"))
    documented = {p: set(ops) for p, ops in doc["paths"].items()}
    assert routes == documented
    served = app.test_client().get("/api/v1/openapi.json").json
    assert served == json.loads(json.dumps(doc))


def test_health_readiness_metrics(make_app, state_dir):
    c = make_app().test_client()
    assert c.get("/healthz").json == {"status": "ok"}
    assert c.get("/readyz").status_code == 200
    with open(os.path.join(state_dir, "api_keys.json"), "w") as f:
        f.write("[]")  # not a keys file
    r = c.get("/readyz")
    assert r.status_code == 503 and r.json["checks"]["api_keys_file"] is False
    assert b"dsa_agent_http_requests_total" in c.get("/metrics").data


def test_real_gunicorn_serves_the_api(tmp_path, state_dir, api_keys):
    port = free_port()
    env = {**os.environ, "DSA_AGENT_STATE_DIR": state_dir, "DSA_AGENT_PORT": str(port),
           "DSA_AGENT_PROMETHEUS_URL": _closed(), "DSA_AGENT_SOURCE_TIMEOUT": "2",
           "DSA_AGENT_LOG_LEVEL": "INFO"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = open(tmp_path / "gunicorn.log", "w")
    exe = os.path.join(os.path.dirname(sys.executable), "dsa-agent")
    proc = subprocess.Popen([exe, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(http_ok(base + "/readyz"), proc, tmp_path / "gunicorn.log",
                   "gunicorn did not become ready", timeout=30, interval=0.3)
        req = urllib.request.Request(base + "/api/v1/analyses", method="POST",
                                     data=json.dumps({"window": "1m"}).encode(),
                                     headers={**auth(api_keys["write"]),
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 202
            loc = r.headers["Location"]
        for _ in range(100):  # any worker reads the state written by the one running it
            with urllib.request.urlopen(urllib.request.Request(
                    base + loc, headers=auth(api_keys["read"])), timeout=10) as r:
                doc = json.load(r)
            if doc["status"] != "running":
                break
            time.sleep(0.3)
        assert doc["status"] == "done" and doc["result"]["errors"]
        with urllib.request.urlopen(base + "/metrics", timeout=5) as r:
            assert b"dsa_agent_http_requests_total" in r.read()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    lines = [json.loads(ln) for ln in (tmp_path / "gunicorn.log").read_text().splitlines()
             if ln.startswith("{")]
    assert any(ln.get("logger") == "dsa_agent.access" and ln.get("status") == 202 for ln in lines)
    assert api_keys["write"] not in (tmp_path / "gunicorn.log").read_text()


def test_analyses_are_listed_newest_first_even_within_one_second(make_app, api_keys):
    app = make_app(prometheus_url=_closed())
    c = app.test_client()
    ids = [_finish(app, c, api_keys["write"], {"window": "1m"})["id"] for _ in range(3)]
    listing = c.get("/api/v1/analyses", headers=auth(api_keys["read"])).json["analyses"]
    assert [a["id"] for a in listing] == ids[::-1]


def test_chat_with_the_stand_in_model_runs_the_real_tool(make_app, api_keys, k6_results):
    """ScriptedChatModel is the language-model stand-in; the tool it calls is the real one."""
    from langchain_core.messages import AIMessage

    from dsa_agent_helpers import ScriptedChatModel, tool_call

    def factory():
        return ScriptedChatModel(messages=iter([tool_call("k6_results", {}, "c1"),
                                                AIMessage(content="One clean smoke run.")]))
    c = make_app(model_factory=factory, results_dir=k6_results).test_client()
    r = c.post("/api/v1/chat", json={"message": "how did the benchmark go?"},
               headers=auth(api_keys["read"]))
    assert r.status_code == 200 and r.json["answer"] == "One clean smoke run."
    (call,) = r.json["tool_calls"]
    assert call["name"] == "k6_results" and json.loads(call["result"])["runs"][0]["requests"] > 0
