"""The ``iot-api`` console script: ``serve`` (gunicorn), ``migrate`` and ``keys ...``.

``migrate`` and ``keys`` are registered on the app by ``create_app`` (``register``), so that
they run inside its application context with its settings and pool, also through
``app.test_cli_runner()``; ``serve`` only execs gunicorn and needs no app.
"""
import os
import sys

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from . import auth, db
from .migrate import migrate as run_migrations


@click.command("migrate")
@with_appcontext
def migrate_command():
    """Apply pending schema migrations (idempotent)."""
    applied = run_migrations(current_app.config["SETTINGS"].dsn())
    if applied:
        for name in applied:
            click.echo(f"applied {name}")
    else:
        click.echo("schema is up to date")


@click.group("keys")
def keys():
    """Create, list and revoke API keys."""


@keys.command("create")
@click.option("--name", required=True, help="who or what uses the key")
@click.option("--scope", "scopes", multiple=True, required=True,
              type=click.Choice(auth.SCOPES), help="read, write or admin (repeatable)")
@with_appcontext
def keys_create(name, scopes):
    """Create a key and print it once (only its SHA-256 hash is stored)."""
    with db.transaction() as cur:
        key_id, key = auth.create_key(cur, name, list(scopes))
    click.echo(f"id={key_id}", err=True)
    click.echo(key)


@keys.command("revoke")
@click.argument("key_id", type=int)
@with_appcontext
def keys_revoke(key_id):
    """Revoke a key by id."""
    with db.transaction() as cur:
        ok = auth.revoke_key(cur, key_id)
    if not ok:
        raise click.ClickException(f"no active key with id {key_id}")
    click.echo(f"revoked {key_id}")


@keys.command("list")
@with_appcontext
def keys_list():
    """List keys (never the keys themselves)."""
    for row in db.fetch_all("SELECT id, name, array_to_string(scopes, ','), created_at,"
                            " revoked_at FROM api_keys ORDER BY id"):
        state = f"revoked {row[4]:%Y-%m-%dT%H:%M:%SZ}" if row[4] else "active"
        click.echo(f"{row[0]}\t{row[1]}\t{row[2]}\t{state}")


def register(app) -> None:
    app.cli.add_command(migrate_command)
    app.cli.add_command(keys)


@click.command("serve", context_settings={"ignore_unknown_options": True})
@click.argument("gunicorn_args", nargs=-1, type=click.UNPROCESSED)
def serve(gunicorn_args):
    """Run the API under gunicorn (settings: IOT_API_BIND, IOT_API_WORKERS,
    IOT_API_WORKER_CLASS, IOT_API_THREADS; extra arguments go to gunicorn)."""
    argv = [sys.executable, "-m", "gunicorn", "--config", "python:iot_api.gunicorn_conf",
            *gunicorn_args, "iot_api.wsgi:app"]
    os.execv(sys.executable, argv)


def _create_app():
    from . import create_app
    return create_app()


cli = FlaskGroup(create_app=_create_app, add_default_commands=False, load_dotenv=False,
                 set_debug_flag=False, help="IoT API: serve, migrate, manage API keys.")
cli.add_command(serve)


def main():
    cli(prog_name="iot-api")


if __name__ == "__main__":
    main()
