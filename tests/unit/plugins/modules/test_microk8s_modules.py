"""dsa.platform.microk8s_addon and microk8s_join_token as Ansible runs them: AnsibleModule with
exit_json/fail_json mocked and run_command patched to answer with recorded MicroK8s outputs."""
import json
from pathlib import Path

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args
from ansible_module_harness import Exit, Fail, mock_exits

from ansible_collections.dsa.platform.plugins.modules import microk8s_addon, microk8s_join_token

FIXTURES = Path(__file__).parents[1] / "fixtures" / "microk8s"
TOKEN = "3f1c9a7be2d04c68a5b1e9f07d2c4a86"


@pytest.fixture(autouse=True)
def mocked_module(monkeypatch):
    mock_exits(monkeypatch)


@pytest.fixture
def commands(monkeypatch):
    """run_command answers from `answers` (first word after microk8s -> (rc, out, err)) and records calls."""
    state = {"calls": [], "answers": {}}

    def run_command(self, args, **kwargs):
        state["calls"].append(list(args))
        answer = state["answers"][args[1]]
        return answer(args) if callable(answer) else answer

    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    return state


def run(module, args, check=False, diff=False):
    args = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    with patch_module_args(args):
        module.main()


def test_addon_enables_missing_ones_with_diff(commands):
    status = [(FIXTURES / "status_single.yaml").read_text()]

    def enable(args):
        status[0] = status[0].replace("name: ingress\n    repository: core\n    description: Ingress controller for external access\n"
                                      "    version: 1.37.0\n    status: disabled",
                                      "name: ingress\n    repository: core\n    description: Ingress controller for external access\n"
                                      "    version: 1.37.0\n    status: enabled")
        return 0, "Addon core/ingress is enabled\n", ""

    commands["answers"] = {"status": lambda args: (0, status[0], ""), "enable": enable}
    with pytest.raises(Exit) as info:
        run(microk8s_addon, {"addons": ["dns", {"name": "ingress", "args": "--default-ssl-certificate ns/cert"}]}, diff=True)
    res = info.value.args[0]
    assert res["changed"] is True and res["enabled"] == ["core/ingress"]
    assert res["diff"] == {"before": {"core/dns": "enabled", "core/ingress": "disabled"},
                           "after": {"core/dns": "enabled", "core/ingress": "enabled"}}
    assert ["/snap/bin/microk8s", "enable", "core/ingress", "--default-ssl-certificate", "ns/cert"] in commands["calls"]


def test_addon_no_diff_unless_asked_and_check_mode_runs_nothing(commands):
    commands["answers"] = {"status": (0, (FIXTURES / "status_single.yaml").read_text(), "")}
    with pytest.raises(Exit) as info:
        run(microk8s_addon, {"addons": ["hostpath-storage"], "microk8s_path": "/opt/mk8s"}, check=True)
    res = info.value.args[0]
    assert res["changed"] is True and "diff" not in res
    assert res["commands"] == [["/opt/mk8s", "enable", "core/hostpath-storage"]]
    assert [c[1] for c in commands["calls"]] == ["status"]


def test_addon_bad_entry_fails_naming_it(commands):
    with pytest.raises(Fail) as info:
        run(microk8s_addon, {"addons": [{"name": "dns", "state": "gone"}]})
    assert info.value.args[0]["msg"] == "addons[0].state: must be enabled or disabled, got 'gone'"
    assert commands["calls"] == []


def test_addon_on_a_worker_fails_clearly(commands):
    commands["answers"] = {"status": (1, (FIXTURES / "status_worker.txt").read_text(), "")}
    with pytest.raises(Fail) as info:
        run(microk8s_addon, {"addons": ["dns"]})
    assert "this node is a worker" in info.value.args[0]["msg"]


def test_join_token_returns_where_to_join_without_the_token(commands):
    commands["answers"] = {"add-node": (0, (FIXTURES / "add_node.json").read_text(), "")}
    with pytest.raises(Exit) as info:
        run(microk8s_join_token, {"token": TOKEN, "ttl": 300})
    res = info.value.args[0]
    assert commands["calls"] == [["/snap/bin/microk8s", "add-node", "--token", TOKEN, "--token-ttl", "300", "--format", "json"]]
    assert res["changed"] is True and res["port"] == 25000 and res["fingerprint"] == "8c1d2e3f4a5b"
    assert res["addresses"][0] == "10.89.72.11"
    assert res["urls"][0] == "10.89.72.11:25000/<token>/8c1d2e3f4a5b"
    assert res["urls"][2] == "[fd00:89:72::11]:25000/<token>/8c1d2e3f4a5b"
    assert TOKEN not in json.dumps(res)


def test_join_token_option_is_no_log(commands, monkeypatch):
    """Ansible masks a no_log option's value wherever it appears in the task output and log."""
    seen = {}
    original = basic.AnsibleModule.__init__

    def init(self, *args, **kwargs):
        seen.update(kwargs["argument_spec"])
        original(self, *args, **kwargs)

    monkeypatch.setattr(basic.AnsibleModule, "__init__", init)
    commands["answers"] = {"add-node": (0, (FIXTURES / "add_node.json").read_text(), "")}
    with pytest.raises(Exit):
        run(microk8s_join_token, {"token": TOKEN})
    assert seen["token"]["no_log"] is True


def test_join_token_too_short_is_refused_before_running(commands):
    with pytest.raises(Fail) as info:
        run(microk8s_join_token, {"token": "abc"})
    assert info.value.args[0]["msg"] == "token: must be at least 32 characters long (MicroK8s refuses shorter tokens)"
    assert commands["calls"] == []


@pytest.mark.parametrize("ttl", [0, -5])
def test_join_token_bad_ttl(commands, ttl):
    with pytest.raises(Fail) as info:
        run(microk8s_join_token, {"token": TOKEN, "ttl": ttl})
    assert info.value.args[0]["msg"].startswith("ttl: must be a positive number of seconds, or -1")


def test_join_token_failure_hides_the_token(commands):
    commands["answers"] = {"add-node": (1, f"Failed to write {TOKEN} to the tokens file\n", "")}
    with pytest.raises(Fail) as info:
        run(microk8s_join_token, {"token": TOKEN})
    assert info.value.args[0]["msg"] == "microk8s add-node failed (rc 1): Failed to write <token> to the tokens file"


def test_join_token_check_mode_registers_nothing(commands):
    with pytest.raises(Exit) as info:
        run(microk8s_join_token, {"token": TOKEN}, check=True)
    assert info.value.args[0] == {"changed": True, "ttl": 600}
    assert commands["calls"] == []


@pytest.mark.parametrize("module, args", [
    (microk8s_addon, {"addons": ["dns"]}),
    (microk8s_join_token, {"token": TOKEN}),
])
def test_documentation_parses_and_matches_the_argument_spec(commands, monkeypatch, module, args):
    """ansible-doc reads these blocks as YAML; the options they document are the ones the module takes."""
    import yaml

    doc = yaml.safe_load(module.DOCUMENTATION)
    yaml.safe_load(module.EXAMPLES)
    returned = yaml.safe_load(module.RETURN)
    assert set(doc["attributes"]) == {"check_mode", "diff_mode"}
    seen = {}
    original = basic.AnsibleModule.__init__

    def init(self, *a, **kwargs):
        seen.update(kwargs["argument_spec"])
        original(self, *a, **kwargs)

    monkeypatch.setattr(basic.AnsibleModule, "__init__", init)
    commands["answers"] = {"status": (0, (FIXTURES / "status_single.yaml").read_text(), ""),
                           "add-node": (0, (FIXTURES / "add_node.json").read_text(), "")}
    with pytest.raises(Exit) as info:
        run(module, args, check=True)
    assert set(doc["options"]) == set(seen)
    for name, option in doc["options"].items():
        assert option["type"] == seen[name]["type"], name
        assert option.get("default") == seen[name].get("default"), name
    assert set(info.value.args[0]) - {"changed"} <= set(returned)
