"""DSA operations agent: anomalies from the platform's measurements, approved inventory patches."""
import logging
import os
import re
import time

from flask import Flask, g, request

__version__ = "0.1.0"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def create_app(config: dict | None = None, model_factory=None) -> Flask:
    from dsa_service import logs, problems
    from flask_limiter import Limiter

    from . import api, metrics, ops
    from .config import Settings
    from .keys import KeyRing
    from .runner import Runner

    settings = Settings.from_env(config)
    app = Flask(__name__)
    app.config["SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    app.json.sort_keys = False
    logs.setup("dsa_agent", settings.log_level)
    os.makedirs(settings.state_dir, exist_ok=True)
    app.extensions["dsa_agent_keys"] = KeyRing(settings.api_keys_file)
    app.extensions["dsa_agent_runner"] = Runner(settings, model_factory)

    @app.before_request
    def _start():
        g.start = time.perf_counter()
        rid = request.headers.get("X-Request-ID")
        g.request_id = rid if rid and _REQUEST_ID.match(rid) else os.urandom(16).hex()

    app.before_request(api.authenticate)  # before the limiter: limits count per key

    rate = settings.rate_limit.strip()
    enabled = bool(rate) and rate.lower() != "off"

    def key_func():
        key = g.get("api_key")
        return f"key:{key['id']}" if key else f"ip:{request.remote_addr}"
    limiter = Limiter(key_func=key_func, default_limits=[rate] if enabled else [],
                      storage_uri="memory://", strategy="fixed-window", headers_enabled=False,
                      enabled=enabled)
    limiter.init_app(app)
    app.extensions["dsa_agent_limiter"] = limiter

    access = logging.getLogger("dsa_agent.access")

    @app.after_request
    def _finish(resp):
        resp.headers["X-Request-ID"] = g.get("request_id", "")
        route = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
        elapsed = time.perf_counter() - g.get("start", time.perf_counter())
        metrics.REQUESTS.labels(request.method, route, str(resp.status_code)).inc()
        metrics.LATENCY.labels(route).observe(elapsed)
        key = g.get("api_key")
        access.info("request", extra={"request_id": g.get("request_id"),
                                      "method": request.method, "path": request.path,
                                      "status": resp.status_code,
                                      "duration_ms": round(elapsed * 1000, 3),
                                      "key_id": key["id"] if key else None})
        return resp

    problems.register(app, logging.getLogger("dsa_agent"), "dsa_agent_limiter")
    app.register_blueprint(ops.bp)
    app.register_blueprint(api.bp)
    for name in ("ops.healthz", "ops.readyz", "ops.prometheus", "ops.openapi"):
        limiter.exempt(app.view_functions[name])
    return app
