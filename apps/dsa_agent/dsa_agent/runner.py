"""Analyses in the background: one thread each (at most ``MAX_RUNNING`` at once), the status
and result persisted in the state directory as they change."""
import logging
import threading
import time
import uuid

from . import collect, graph, llm, metrics
from .store import Store

log = logging.getLogger("dsa_agent.runner")
MAX_RUNNING = 2


class Runner:
    def __init__(self, settings, model_factory=None):
        self.settings = settings
        self.store = Store(settings.state_dir)
        self.model_factory = model_factory or (lambda: llm.make_model(settings))
        self._slots = threading.BoundedSemaphore(MAX_RUNNING)
        self._threads: dict[str, threading.Thread] = {}

    def start(self, window: str, targets: list, question: str, end: float | None,
              key_name: str) -> dict:
        window_s = collect.parse_window(window)
        if not self._slots.acquire(blocking=False):
            raise BusyError(f"{MAX_RUNNING} analyses are already running")
        aid = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:8]
        doc = {"id": aid, "status": "running", "created": time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "created_ns": time.time_ns(), "request": {
            "window": window, "window_s": window_s, "targets": targets or list(collect.TARGETS),
            "question": question, "end": end, "by": key_name}, "result": None}
        self.store.save(doc)
        t = threading.Thread(target=self._run, args=(doc,), name=f"analysis-{aid}", daemon=True)
        self._threads[aid] = t
        t.start()
        return doc

    def _run(self, doc: dict) -> None:
        req = doc["request"]
        try:
            try:
                model = self.model_factory()
            except llm.LLMError as e:
                model = None
                pre = [f"llm: {e}; the report was written from the rules alone"]
            else:
                pre = []
            out = graph.run(self.settings, req["window_s"], req["targets"], req["question"],
                            req["end"], model, doc["id"])
            doc["result"] = {
                "window": out["collected"]["window"], "findings": out["collected"]["findings"],
                "suggestions": out["suggestions"], "forecast": out.get("forecast"),
                "narrative": out.get("narrative"), "tool_calls": out.get("tool_calls", []),
                "errors": pre + list(out.get("errors") or []),
                "notes": out["collected"]["notes"], "load": {
                    k: v for k, v in (out["collected"].get("load") or {}).items()
                    if k != "throughput_points"},
                "series": out["collected"]["series"], "k6_runs": out["collected"]["k6_runs"]}
            doc["status"] = "done"
            for f in doc["result"]["findings"]:
                metrics.FINDINGS.labels(f["kind"]).inc()
        except Exception as e:  # the analysis fails, the service does not
            log.error("analysis failed", exc_info=e, extra={"analysis": doc["id"]})
            doc["status"] = "failed"
            doc["error"] = f"{type(e).__name__}: {e}"
        finally:
            doc["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            self.store.save(doc)
            metrics.ANALYSES.labels(doc["status"]).inc()
            self._slots.release()
            self._threads.pop(doc["id"], None)

    def wait(self, aid: str, timeout: float) -> None:
        t = self._threads.get(aid)
        if t is not None:
            t.join(timeout)


class BusyError(RuntimeError):
    pass
