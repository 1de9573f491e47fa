"""IoT REST API for smart buildings (Flask application factory)."""
import os
import re
import time

from flask import Flask, g, request

__version__ = "0.1.0"

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def create_app(config: dict | None = None) -> Flask:
    from dsa_service import logs
    from flask_cors import CORS
    from flask_limiter import Limiter

    from . import auth, cli, devices, errors, metrics, ops, readings, reference
    from .config import Settings
    from .schemas import batch_adapter

    settings = Settings.from_env(config)
    app = Flask(__name__)
    app.config["SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False
    logs.setup("iot_api", settings.log_level)
    access_log = logs.AccessLog("iot_api.access") if settings.access_log else None
    app.extensions["iot_api_access_log"] = access_log
    app.extensions["iot_api_key_cache"] = auth._Cache()
    app.extensions["iot_api_batch_adapter"] = batch_adapter(settings.batch_limit)

    @app.before_request
    def _start():
        g.start = time.perf_counter()
        rid = request.headers.get("X-Request-ID")
        g.request_id = rid if rid and _REQUEST_ID.match(rid) else os.urandom(16).hex()

    app.before_request(auth.check_request)  # before the limiter: limits count per API key

    rate = settings.rate_limit.strip()
    limiter = Limiter(key_func=auth.rate_limit_key,
                      default_limits=[rate] if rate and rate.lower() != "off" else [],
                      storage_uri=settings.rate_limit_storage, strategy="fixed-window",
                      headers_enabled=False, enabled=bool(rate) and rate.lower() != "off")
    limiter.init_app(app)
    app.extensions["iot_api_limiter"] = limiter

    if settings.cors_origins:
        CORS(app, origins=settings.cors_origins, supports_credentials=False,
             allow_headers=["Authorization", "X-API-Key", "Content-Type", "Idempotency-Key",
                            "If-Match", "If-None-Match", "X-Request-ID"],
             expose_headers=["ETag", "Retry-After", "X-Request-ID", "Location"])

    @app.after_request
    def _finish(resp):
        rid = getattr(g, "request_id", None)
        if rid:
            resp.headers["X-Request-ID"] = rid
        elapsed = time.perf_counter() - g.get("start", time.perf_counter())
        route = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
        counter, histogram = metrics.children(request.method, route, resp.status_code)
        counter.inc()
        histogram.observe(elapsed)
        if access_log is not None:
            key = g.get("api_key")
            access_log.write({
                "request_id": rid, "method": request.method, "path": request.path,
                "route": route, "status": resp.status_code,
                "duration_ms": round(elapsed * 1000, 3), "remote": request.remote_addr,
                "key_id": key[0] if key else None, "bytes": resp.content_length})
        return resp

    errors.register(app)
    app.register_blueprint(ops.bp)
    app.register_blueprint(readings.bp)
    app.register_blueprint(devices.bp)
    for name in ("ops.healthz", "ops.readyz", "ops.prometheus", "ops.openapi"):
        limiter.exempt(app.view_functions[name])
    if settings.reference_routes:
        app.register_blueprint(reference.make_blueprint(settings))
        if settings.reference_open:
            limiter.exempt(app.blueprints["reference"])
    cli.register(app)
    return app
