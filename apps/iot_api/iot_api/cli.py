"""The ``iot-api`` console script: the app's click commands plus ``serve``."""
from __future__ import annotations

import os
import sys

import click
from flask.cli import FlaskGroup


def _create_app():
    from . import create_app
    return create_app()


@click.command("serve", context_settings={"ignore_unknown_options": True})
@click.argument("gunicorn_args", nargs=-1, type=click.UNPROCESSED)
def serve(gunicorn_args):
    """Run the API under gunicorn (settings: IOT_API_BIND, IOT_API_WORKERS,
    IOT_API_WORKER_CLASS, IOT_API_THREADS; extra arguments go to gunicorn)."""
    argv = [sys.executable, "-m", "gunicorn", "--config", "python:iot_api.gunicorn_conf",
            *gunicorn_args, "iot_api.wsgi:app"]
    os.execv(sys.executable, argv)


cli = FlaskGroup(create_app=_create_app, add_default_commands=False, load_dotenv=False,
                 set_debug_flag=False, help="IoT API: serve, migrate, manage API keys.")
cli.add_command(serve)


def main():
    cli(prog_name="iot-api")


if __name__ == "__main__":
    main()
