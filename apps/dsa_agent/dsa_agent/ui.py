"""Streamlit UI of the agent: a client of the HTTP API only (DSA_AGENT_API_URL with
DSA_AGENT_UI_API_KEY), never of the internals.

Findings with their evidence plotted, suggestions with their patch as a diff and approve/reject
buttons, and a chat with the agent over the same tools."""
import os

import requests
import streamlit as st

API = os.environ.get("DSA_AGENT_API_URL", "http://127.0.0.1:8070").rstrip("/")
KEY = os.environ.get("DSA_AGENT_UI_API_KEY", "")
TIMEOUT = 30


def call(method: str, path: str, **kw):
    """(status, json) or (None, message) when the API cannot be reached."""
    try:
        r = requests.request(method, API + path, timeout=TIMEOUT,
                             headers={"Authorization": f"Bearer {KEY}"}, **kw)
    except requests.RequestException as e:
        return None, f"the agent's API at {API} is unreachable: {type(e).__name__}"
    try:
        body = r.json()
    except ValueError:
        body = {"detail": r.text[:300]}
    return r.status_code, body


def show_error(status, body):
    if status is None:
        st.error(body)
    else:
        st.error(f"{status}: {body.get('detail', body)}")


st.set_page_config(page_title="dsa-agent", layout="wide")
st.title("DSA operations agent")

with st.sidebar:
    st.header("New analysis")
    window = st.text_input("Window", "15m", key="window")
    targets = st.multiselect("Targets", ["iot_api", "postgresql", "node", "prometheus"],
                             default=["iot_api"], key="targets")
    question = st.text_area("Question", "", key="question")
    if st.button("Analyse", key="start"):
        status, body = call("POST", "/api/v1/analyses",
                            json={"window": window, "targets": targets, "question": question})
        if status == 202:
            st.session_state["selected"] = body["id"]
            st.success(f"started {body['id']}")
        else:
            show_error(status, body)

status, listing = call("GET", "/api/v1/analyses")
if status != 200:
    show_error(status, listing)
    st.stop()
ids = [a["id"] for a in listing["analyses"]]
if not ids:
    st.info("No analysis yet: start one in the sidebar.")
else:
    default = ids.index(st.session_state["selected"]) if st.session_state.get("selected") in ids else 0
    aid = st.selectbox("Analysis", ids, index=default, key="analysis")
    status, doc = call("GET", f"/api/v1/analyses/{aid}")
    if status != 200:
        show_error(status, doc)
    elif doc["status"] != "done":
        st.info(f"Analysis {aid} is {doc['status']}" + (f": {doc.get('error')}" if doc.get("error") else ""))
        st.button("Refresh", key="refresh")
    else:
        res = doc["result"]
        st.markdown((res.get("narrative") or {}).get("analyst", ""))
        for e in res.get("errors") or []:
            st.warning(e)
        st.subheader(f"Findings ({len(res['findings'])})")
        for f in res["findings"]:
            with st.expander(f"{f['id']}: {f['summary']}", expanded=True):
                ev = f["evidence"]
                series = next((s for s in res.get("series", []) if s["name"] == f["series"]), None)
                pts = (series or {}).get("points") or ev["points"]
                st.line_chart({"value": [p[1] for p in pts]}, height=180)
                st.caption(f"methods {', '.join(ev['methods'])}, score {ev['score']},"
                           f" baseline {ev['baseline']:.4g}")
                st.code(ev["query"], language="promql")
        st.subheader(f"Suggestions ({len(res['suggestions'])})")
        for s in res["suggestions"]:
            st.markdown(f"**{s['id']} ({s['status']}): {s['title']}**  \n{s['rationale']}")
            if s.get("diff"):
                st.code(s["diff"], language="diff")
            if s.get("validation"):
                st.caption(f"check: {s['validation']['detail']}")
            if s.get("patch_file"):
                st.caption(f"patch written to {s['patch_file']}")
            if s["status"] == "proposed":
                c1, c2 = st.columns(2)
                for col, action in ((c1, "approve"), (c2, "reject")):
                    if col.button(action.capitalize(), key=f"{action}-{aid}-{s['id']}"):
                        st_, body = call("POST", f"/api/v1/analyses/{aid}/suggestions/{s['id']}/{action}")
                        if st_ == 200:
                            st.success(f"{s['id']} {body['status']}"
                                       + (f": {body['patch_file']}" if body.get("patch_file") else ""))
                        else:
                            show_error(st_, body)

st.subheader("Chat")
history = st.session_state.setdefault("chat", [])
for role, text in history:
    with st.chat_message(role):
        st.write(text)
prompt = st.chat_input("Ask the agent", key="chat_input")
if prompt:
    history.append(("user", prompt))
    status, body = call("POST", "/api/v1/chat", json={"message": prompt})
    reply = body["answer"] if status == 200 else f"error {status}: {body}"
    history.append(("assistant", reply))
    with st.chat_message("user"):
        st.write(prompt)
    with st.chat_message("assistant"):
        st.write(reply)
