"""WSGI entry point for gunicorn: ``gunicorn -c python:iot_api.gunicorn_conf iot_api.wsgi:app``."""
from . import create_app

app = create_app()
