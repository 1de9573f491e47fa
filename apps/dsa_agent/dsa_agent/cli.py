"""The ``dsa-agent`` console script: serve, ui, analyze, keys."""
import json
import os
import sys
import time
import uuid

import click

from . import keys as keyring
from .config import Settings


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ValueError as e:
        raise click.ClickException(str(e)) from None


@click.group(help="DSA operations agent: serve the API, the UI, run an analysis, manage keys.")
def cli():
    pass


@cli.command("serve", context_settings={"ignore_unknown_options": True})
@click.argument("gunicorn_args", nargs=-1, type=click.UNPROCESSED)
def serve(gunicorn_args):
    """Run the HTTP API under gunicorn (DSA_AGENT_BIND, DSA_AGENT_PORT, DSA_AGENT_WORKERS)."""
    _settings()
    os.execv(sys.executable, [sys.executable, "-m", "gunicorn", "--config",
                              "python:dsa_agent.gunicorn_conf", *gunicorn_args,
                              "dsa_agent.wsgi:app"])


@cli.command("ui")
def ui():
    """Run the Streamlit UI (DSA_AGENT_BIND, DSA_AGENT_UI_PORT; it talks to DSA_AGENT_API_URL)."""
    s = _settings()
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ui.py")
    os.execv(sys.executable, [sys.executable, "-m", "streamlit", "run", path,
                              "--server.address", s.bind, "--server.port", str(s.ui_port),
                              "--server.headless", "true",
                              "--browser.gatherUsageStats", "false"])


@cli.command("analyze")
@click.option("--window", default="15m", show_default=True, help="30s to 24h (s, m, h)")
@click.option("--targets", default="", help="comma-separated; default all")
@click.option("--question", default="", help="a question for the agent")
@click.option("--out", "out", default="", help="Markdown report path (default in the state dir)")
@click.option("--json-out", default="", help="also write the full result as JSON here")
def analyze(window, targets, question, out, json_out):
    """One analysis from the command line; prints where the report is."""
    from . import collect, graph, llm, report
    from .store import atomic_write
    s = _settings()
    try:
        window_s = collect.parse_window(window)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--window") from None
    tlist = [t.strip() for t in targets.split(",") if t.strip()]
    unknown = [t for t in tlist if t not in collect.TARGETS]
    if unknown:
        raise click.BadParameter(f"unknown targets {unknown}; known: {list(collect.TARGETS)}",
                                 param_hint="--targets")
    try:
        model = llm.make_model(s)
    except llm.LLMError as e:
        raise click.ClickException(str(e)) from None
    aid = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:6]
    result = graph.run(s, window_s, tlist, question, model=model, analysis_id=aid)
    result["id"] = aid
    out = out or os.path.join(s.state_dir, "reports", f"{aid}.md")
    atomic_write(out, report.markdown(result), mode=0o644)
    if json_out:
        atomic_write(json_out, json.dumps({k: v for k, v in result.items()}, default=str,
                                          indent=1), mode=0o644)
    for e in result.get("errors") or []:
        click.echo(f"warning: {e}", err=True)
    click.echo(out)


@cli.group("keys")
def keys():
    """Create, list and revoke API keys (DSA_AGENT_API_KEYS_FILE)."""


@keys.command("create")
@click.argument("name")
@click.option("--scope", required=True, type=click.Choice(keyring.SCOPES))
def keys_create(name, scope):
    """Create a key; prints it once on stdout (only its SHA-256 digest is stored)."""
    s = _settings()
    try:
        key_id, key = keyring.create(s.api_keys_file, name, scope)
    except (ValueError, OSError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"id={key_id}", err=True)
    click.echo(key)


@keys.command("list")
def keys_list():
    """List the keys (never the keys themselves)."""
    for e in keyring.listing(_settings().api_keys_file):
        click.echo(f"{e['id']}\t{e['name']}\t{e['scope']}\t"
                   f"{'revoked ' + e['revoked'] if e.get('revoked') else 'active'}")


@keys.command("revoke")
@click.argument("key_id", type=int)
def keys_revoke(key_id):
    """Revoke a key by id."""
    if not keyring.revoke(_settings().api_keys_file, key_id):
        raise click.ClickException(f"no active key with id {key_id}")
    click.echo(f"revoked {key_id}")


def main():
    cli(prog_name="dsa-agent")


if __name__ == "__main__":
    main()
