"""The role refuses bad settings before it touches a host, naming each variable (run on the controller)."""
import json
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
PLAY = """
- name: Preflight only
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - role: dsa.platform.dsa_agent
"""


def _run(tmp_path, extra):
    (tmp_path / "play.yml").write_text(PLAY)
    (tmp_path / "vars.json").write_text(json.dumps(extra))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".cache", "collections"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_STDOUT_CALLBACK="default")
    argv = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
            str(tmp_path / "play.yml"), "-e", f"@{tmp_path / 'vars.json'}",
            "-e", f"ansible_python_interpreter={sys.executable}"]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_bad_settings_are_refused_together_naming_each_variable(tmp_path):
    secret = "sk-molecule-secret-value"
    out = _run(tmp_path, {
        "dsa_agent_llm_provider": "ollama", "dsa_agent_llm_api_key": secret,
        "dsa_agent_prometheus_url": "prometheus:9090", "dsa_agent_nginx_ui_port": 8070,
        "dsa_agent_rate_limit": "lots", "dsa_agent_bootstrap_keys": [{"name": "ops team", "scope": "root"}],
        "dsa_agent_credentials_dir": str(tmp_path / "credentials")})
    text = out.stdout + out.stderr
    assert out.returncode != 0, text
    for name in ("dsa_agent_prometheus_url", "dsa_agent_llm_model", "dsa_agent_llm_base_url",
                 "dsa_agent_nginx_ui_port", "dsa_agent_rate_limit", "dsa_agent_bootstrap_keys"):
        assert name in text, (name, text)
    assert "Check the agent's settings" in text and "Traceback" not in text
    assert secret not in text
    # Nothing ran past the preflight: no build, no credentials directory.
    assert "Build the agent's wheel" not in text and not (tmp_path / "credentials").exists()


def test_an_unknown_provider_is_refused_by_the_argument_spec(tmp_path):
    out = _run(tmp_path, {"dsa_agent_llm_provider": "gpt"})
    text = out.stdout + out.stderr
    assert out.returncode != 0 and "dsa_agent_llm_provider" in text and "Traceback" not in text, text
