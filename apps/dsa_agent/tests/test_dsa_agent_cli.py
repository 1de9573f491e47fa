"""The console script as the role uses it: `keys create NAME --scope S` prints the key alone on
stdout, `keys list` never shows it, bad input is a one-line error; `ui` starts the real
Streamlit server, which answers its health check."""
import json
import os
import subprocess
import sys

from service_testing import http_ok, wait_until

from dsa_agent_helpers import free_port

EXE = os.path.join(os.path.dirname(sys.executable), "dsa-agent")


def _run(args, env, **kw):
    return subprocess.run([EXE, *args], env=env, capture_output=True, text=True, timeout=60, **kw)


def test_keys_create_list_revoke(tmp_path):
    env = {**os.environ, "DSA_AGENT_STATE_DIR": str(tmp_path)}
    p = _run(["keys", "create", "ui", "--scope", "write"], env)
    assert p.returncode == 0, p.stderr
    key = p.stdout.strip()
    assert key.startswith("dsak_") and "\n" not in key and p.stderr.strip() == "id=1"
    stored = json.loads((tmp_path / "api_keys.json").read_text())
    assert stored["keys"][0]["scope"] == "write" and key not in json.dumps(stored)
    listing = _run(["keys", "list"], env).stdout
    assert "ui\twrite\tactive" in listing and key not in listing
    assert _run(["keys", "revoke", "1"], env).returncode == 0
    assert "revoked" in _run(["keys", "list"], env).stdout
    bad = _run(["keys", "create", "x", "--scope", "root"], env)
    assert bad.returncode == 2 and "'root' is not one of" in bad.stderr
    assert "Traceback" not in bad.stderr
    worse = _run(["keys", "list"], {**env, "DSA_AGENT_PORT": "eighty"})
    assert worse.returncode == 1 and "DSA_AGENT_PORT must be a number" in worse.stderr


def test_ui_serves_its_health_check(tmp_path):
    port = free_port()
    env = {**os.environ, "DSA_AGENT_UI_PORT": str(port), "HOME": str(tmp_path),
           "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    log = open(tmp_path / "ui.log", "w")
    proc = subprocess.Popen([EXE, "ui"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(http_ok(f"http://127.0.0.1:{port}/_stcore/health", body=b"ok"), proc,
                   tmp_path / "ui.log", "streamlit did not start", timeout=60, interval=0.5)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
