"""The HTTP API: start an analysis, read its status and result, list findings and suggestions,
approve or reject a suggestion, chat. Paths and bodies: openapi.py."""
import fcntl
import os
import time
from contextlib import contextmanager

from dsa_service import keys as api_keys
from dsa_service.keys import require
from dsa_service.problems import ApiError
from flask import Blueprint, current_app, g, jsonify, request, url_for

from . import chat, collect, executor, keys, llm
from .runner import BusyError

bp = Blueprint("api", __name__, url_prefix="/api/v1")
MAX_QUESTION = 2000


def authenticate() -> None:
    """before_request: the key a marked view needs (dsa_service.keys), from the key ring."""
    scope = api_keys.required_scope()
    if scope is not None:
        api_keys.check(scope, "dsa-agent", current_app.extensions["dsa_agent_keys"].lookup,
                       lambda entry, needed: keys.RANK[entry["scope"]] >= keys.RANK[needed])


def _body(allowed: set[str], required: set[str]) -> dict:
    if not request.is_json:
        raise ApiError(415, "the body must be JSON (Content-Type: application/json)")
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError(400, "the body is not valid JSON")
    if not isinstance(data, dict):
        raise ApiError(422, "the body must be a JSON object",
                       [{"field": "body", "message": "expected an object"}])
    errors = [{"field": k, "message": "unknown field"} for k in sorted(set(data) - allowed)]
    errors += [{"field": k, "message": "field required"} for k in sorted(required - set(data))]
    if errors:
        raise ApiError(422, "the request failed validation", errors)
    return data


def _store():
    return current_app.extensions["dsa_agent_runner"].store


def _load(aid: str) -> dict:
    try:
        return _store().load(aid)
    except KeyError:
        raise ApiError(404, f"no analysis {aid}") from None


@contextmanager
def _locked():
    """Decisions across gunicorn workers are serialised on one lock file."""
    d = _store().dir
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, ".lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@bp.post("/analyses")
@require("write")
def start_analysis():
    data = _body({"window", "targets", "question", "end"}, {"window"})
    errors = []
    window = data["window"]
    if not isinstance(window, str):
        errors.append({"field": "window", "message": "must be a string such as 15m"})
    else:
        try:
            collect.parse_window(window)
        except ValueError as e:
            errors.append({"field": "window", "message": str(e)})
    targets = data.get("targets") or []
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        errors.append({"field": "targets", "message": "must be a list of strings"})
    else:
        unknown = [t for t in targets if t not in collect.TARGETS]
        if unknown:
            errors.append({"field": "targets", "message": f"unknown targets {unknown};"
                                                          f" known: {list(collect.TARGETS)}"})
    question = data.get("question") or ""
    if not isinstance(question, str):
        errors.append({"field": "question", "message": "must be a string"})
    elif len(question) > MAX_QUESTION:
        errors.append({"field": "question",
                       "message": f"at most {MAX_QUESTION} characters, got {len(question)}"})
    end = data.get("end")
    if end is not None:
        if isinstance(end, bool) or not isinstance(end, (int, float)):
            errors.append({"field": "end", "message": "must be a Unix time in seconds"})
        elif not time.time() - 30 * 86400 <= end <= time.time() + 60:
            errors.append({"field": "end", "message": "must be within the last 30 days"})
    if errors:
        raise ApiError(422, "the request failed validation", errors)
    try:
        doc = current_app.extensions["dsa_agent_runner"].start(
            window, targets, question, float(end) if end is not None else None,
            g.api_key["name"])
    except BusyError as e:
        raise ApiError(429, str(e), headers={"Retry-After": "5"}) from None
    resp = jsonify(doc)
    resp.status_code = 202
    resp.headers["Location"] = url_for("api.get_analysis", aid=doc["id"])
    return resp


@bp.get("/analyses")
@require("read")
def list_analyses():
    return jsonify({"analyses": [
        {"id": d["id"], "status": d["status"], "created": d.get("created"),
         "window": d["request"]["window"],
         "findings": len((d.get("result") or {}).get("findings") or []),
         "suggestions": len((d.get("result") or {}).get("suggestions") or [])}
        for d in _store().list()]})


@bp.get("/analyses/<aid>")
@require("read")
def get_analysis(aid):
    return jsonify(_load(aid))


def _done(aid: str) -> dict:
    doc = _load(aid)
    if doc["status"] != "done":
        raise ApiError(409, f"analysis {aid} is {doc['status']}, not done")
    return doc


@bp.get("/analyses/<aid>/findings")
@require("read")
def findings(aid):
    return jsonify({"findings": _done(aid)["result"]["findings"]})


@bp.get("/analyses/<aid>/suggestions")
@require("read")
def suggestions(aid):
    return jsonify({"suggestions": _done(aid)["result"]["suggestions"]})


def _decide(aid: str, sid: str, decision: str):
    body = {}
    if request.content_length:
        body = _body({"comment"}, set())
    with _locked():
        doc = _done(aid)
        s = next((x for x in doc["result"]["suggestions"] if x["id"] == sid), None)
        if s is None:
            raise ApiError(404, f"analysis {aid} has no suggestion {sid}")
        if s["status"] != "proposed":
            raise ApiError(409, f"suggestion {sid} is {s['status']}, not proposed")
        try:
            executor.apply_decision(current_app.config["SETTINGS"], aid, s, decision,
                                    g.api_key["name"])
        except executor.DecisionError as e:
            raise ApiError(409, str(e)) from None
        if body.get("comment"):
            s["comment"] = str(body["comment"])[:500]
        _store().save(doc)
    return jsonify(s)


@bp.post("/analyses/<aid>/suggestions/<sid>/approve")
@require("write")
def approve(aid, sid):
    return _decide(aid, sid, "approve")


@bp.post("/analyses/<aid>/suggestions/<sid>/reject")
@require("write")
def reject(aid, sid):
    return _decide(aid, sid, "reject")


@bp.post("/chat")
@require("read")
def chat_view():
    data = _body({"message"}, {"message"})
    msg = data["message"]
    if not isinstance(msg, str) or not msg.strip():
        raise ApiError(422, "the request failed validation",
                       [{"field": "message", "message": "must be a non-empty string"}])
    if len(msg) > MAX_QUESTION:
        raise ApiError(422, "the request failed validation",
                       [{"field": "message", "message": f"at most {MAX_QUESTION} characters"}])
    settings = current_app.config["SETTINGS"]
    try:
        model = current_app.extensions["dsa_agent_runner"].model_factory()
    except llm.LLMError as e:
        out = chat.answer(settings, msg, None)
        out["errors"] = [str(e)]
        return jsonify(out)
    return jsonify(chat.answer(settings, msg, model))
