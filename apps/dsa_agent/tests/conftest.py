"""Fixtures: a state directory, API keys per scope, a Flask app, a copy of a real inventory,
and k6 results from a real (short) k6 run."""
import os
import shutil

import pytest

from dsa_agent import create_app, keys
from dsa_agent_helpers import k6_script, run_k6, serve_ok

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


@pytest.fixture(autouse=True)
def _ansible_env(monkeypatch):
    monkeypatch.setenv("ANSIBLE_CONFIG", os.path.join(REPO, "ansible.cfg"))
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", os.path.join(REPO, ".cache", "collections"))


@pytest.fixture
def inventory(tmp_path):
    """A copy of inventories/local inside a tree with the real playbooks/ and roles/ next to it
    (validate.yml is found two levels up, as in the repository)."""
    root = tmp_path / "repo"
    (root / "inventories").mkdir(parents=True)
    shutil.copytree(os.path.join(REPO, "inventories", "local"), root / "inventories" / "local")
    os.symlink(os.path.join(REPO, "playbooks"), root / "playbooks")
    os.symlink(os.path.join(REPO, "roles"), root / "roles")
    return str(root / "inventories" / "local")


@pytest.fixture(scope="session")
def k6_results(tmp_path_factory):
    """results/<configuration>/<scenario>/summary.json written by a real k6 run (clean)."""
    base = tmp_path_factory.mktemp("k6")
    srv = serve_ok()
    target = base / "results" / "baseline" / "smoke-open"
    target.mkdir(parents=True)
    proc = run_k6(k6_script(str(target / "summary.json"), f"http://127.0.0.1:{srv.server_port}",
                            20, "2s"), str(base))
    srv.shutdown()
    assert proc.returncode == 0, proc.stderr
    return str(base / "results")


@pytest.fixture
def state_dir(tmp_path):
    d = tmp_path / "state"
    d.mkdir()
    return str(d)


@pytest.fixture
def api_keys(state_dir):
    path = os.path.join(state_dir, "api_keys.json")
    return {scope: keys.create(path, f"test-{scope}", scope)[1] for scope in keys.SCOPES}


@pytest.fixture
def make_app(state_dir, api_keys):
    def factory(model_factory=None, **overrides):
        config = {"state_dir": state_dir, "rate_limit": "off", "log_level": "WARNING",
                  "prometheus_url": "", "source_timeout": "2", **overrides}
        app = create_app(config, model_factory=model_factory)
        app.config["TESTING"] = True
        return app
    return factory


