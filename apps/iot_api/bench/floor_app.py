"""The cheapest Flask app gunicorn can serve: one route, no database, no middleware.

``run.py --floor`` drives it with the same k6 harness and gunicorn settings as the API, so the
report can tell what the HTTP stack and k6 alone cost per request on this machine."""
from flask import Flask

app = Flask(__name__)


@app.get("/healthz")
def healthz():
    return {"status": "ok"}
