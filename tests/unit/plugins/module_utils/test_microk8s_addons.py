"""Add-on plans and their execution against a recorded `microk8s status --format yaml`, with the
commands captured instead of run (the module's logic without Ansible)."""
from pathlib import Path

import pytest
import yaml

from ansible_collections.dsa.platform.plugins.module_utils.microk8s import addons
from ansible_collections.dsa.platform.plugins.module_utils.microk8s.cli import Microk8sError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "microk8s"


class FakeMicrok8s:
    """Answers status from a recorded output and applies enable/disable to it, like the CLI would."""

    def __init__(self, fixture="status_ha_ready.yaml", fail_on=None, ignore=()):
        self.data = yaml.safe_load((FIXTURES / fixture).read_text())
        self.calls = []
        self.fail_on = fail_on
        self.ignore = ignore

    def status_text(self):
        lines = ["microk8s:", "  running: True", "high-availability:", "  enabled: False", "addons:"]
        for addon in self.data["addons"]:
            lines += [f"  - name: {addon['name']}", f"    repository: {addon['repository']}",
                      f"    description: {addon['description']}", f"    version: {addon['version']}",
                      f"    status: {addon['status']}"]
        return "\n".join(lines) + "\n"

    def __call__(self, command):
        self.calls.append(command)
        verb = command[1]
        if verb == "status":
            return 0, self.status_text(), ""
        if verb in ("enable", "disable"):
            if command[2] == self.fail_on:
                return 1, "", f"Addon {command[2]} failed: timed out waiting for the deployment\n"
            repository, name = command[2].split("/")
            for addon in self.data["addons"]:
                if (addon["repository"], addon["name"]) == (repository, name) and command[2] not in self.ignore:
                    addon["status"] = "enabled" if verb == "enable" else "disabled"
            return 0, f"Addon {command[2]} is {verb}d\n", ""
        raise AssertionError(command)


def xable_calls(fake):
    return [c[1:] for c in fake.calls if c[1] in ("enable", "disable")]


def test_normalize_accepts_names_and_mappings():
    wanted = addons.normalize(["dns", {"name": "registry", "args": "--size 20Gi"}, {"name": "dashboard", "state": "disabled"},
                               {"name": "metallb", "args": ["10.0.0.100-10.0.0.120"]}])
    assert wanted == [
        {"name": "dns", "args": [], "state": "enabled"},
        {"name": "registry", "args": ["--size", "20Gi"], "state": "enabled"},
        {"name": "dashboard", "args": [], "state": "disabled"},
        {"name": "metallb", "args": ["10.0.0.100-10.0.0.120"], "state": "enabled"},
    ]


@pytest.mark.parametrize("value, match", [
    ("dns", "must be a list"),
    ([42], r"microk8s_addons\[0\]: must be an add-on name"),
    ([{"name": "dns", "arg": "x"}], r"microk8s_addons\[0\]: unknown key\(s\) arg"),
    ([{"name": "dns ingress"}], r"microk8s_addons\[0\]\.name"),
    ([{"name": "dns", "state": "on"}], r"microk8s_addons\[0\]\.state: must be enabled or disabled"),
    ([{"name": "dns", "args": {"a": 1}}], r"microk8s_addons\[0\]\.args: must be a string or a list"),
    ([{"name": "dns", "args": "'unterminated"}], r"microk8s_addons\[0\]\.args"),
    (["dns", "ingress", "dns"], r"microk8s_addons\[2\]\.name: dns is listed twice \(also at microk8s_addons\[0\]\)"),
])
def test_normalize_names_the_bad_entry(value, match):
    with pytest.raises(Microk8sError, match=match):
        addons.normalize(value, "microk8s_addons")


def test_only_addons_whose_status_differs_are_run_one_per_command_in_order():
    fake = FakeMicrok8s()
    wanted = addons.normalize(["dns", {"name": "ingress"}, {"name": "registry", "args": "--size 20Gi"},
                               {"name": "core/dashboard", "state": "disabled"}, {"name": "helm3", "state": "disabled"}])
    result = addons.apply(fake, wanted, wait_timeout=30)
    assert xable_calls(fake) == [["enable", "core/ingress"], ["enable", "core/registry", "--size", "20Gi"],
                                 ["disable", "core/helm3"]]
    assert result["changed"] is True
    assert result["enabled"] == ["core/ingress", "core/registry"] and result["disabled"] == ["core/helm3"]
    assert result["diff"]["before"] == {"core/dns": "enabled", "core/ingress": "disabled", "core/registry": "disabled",
                                        "core/dashboard": "disabled", "core/helm3": "enabled"}
    assert result["addons"] == {"core/dns": "enabled", "core/ingress": "enabled", "core/registry": "enabled",
                                "core/dashboard": "disabled", "core/helm3": "disabled"}
    # status was read with --wait-ready before and once more after, to prove the result
    statuses = [c for c in fake.calls if c[1] == "status"]
    assert len(statuses) == 2 and statuses[0][-3:] == ["--wait-ready", "--timeout", "30"]


def test_second_run_changes_nothing():
    fake = FakeMicrok8s()
    wanted = addons.normalize(["ingress", "metrics-server", "rbac", "observability"])
    assert addons.apply(fake, wanted)["changed"] is True
    fake.calls.clear()
    again = addons.apply(fake, wanted)
    assert again["changed"] is False and xable_calls(fake) == [] and again["commands"] == []
    assert len(fake.calls) == 1  # one status read, nothing else


def test_check_mode_reports_the_plan_and_runs_nothing():
    fake = FakeMicrok8s()
    result = addons.apply(fake, addons.normalize(["ingress", {"name": "dns", "state": "disabled"}]), check_mode=True)
    assert xable_calls(fake) == []
    assert result["changed"] is True
    assert result["commands"] == [["/snap/bin/microk8s", "enable", "core/ingress"], ["/snap/bin/microk8s", "disable", "core/dns"]]
    assert result["diff"]["after"] == {"core/ingress": "enabled", "core/dns": "disabled"}


def test_unknown_addon_fails_before_any_command():
    fake = FakeMicrok8s()
    with pytest.raises(Microk8sError, match="add-on linkerd is not available"):
        addons.apply(fake, addons.normalize(["ingress", "linkerd"]))
    assert xable_calls(fake) == []


def test_failed_enable_stops_with_its_output():
    fake = FakeMicrok8s(fail_on="core/ingress")
    with pytest.raises(Microk8sError, match=r"microk8s enable core/ingress failed \(rc 1\): Addon core/ingress failed: timed out"):
        addons.apply(fake, addons.normalize(["ingress", "registry"]))
    assert xable_calls(fake) == [["enable", "core/ingress"]]


def test_addon_that_did_not_reach_its_state_fails():
    fake = FakeMicrok8s(ignore=("core/rbac",))
    with pytest.raises(Microk8sError, match="not in the wanted state after the command: core/rbac is disabled"):
        addons.apply(fake, addons.normalize(["rbac"]))


def test_node_not_running_fails_with_microk8s_message():
    def run(command):
        return 1, (FIXTURES / "status_not_running.yaml").read_text(), ""
    with pytest.raises(Microk8sError, match=r"not running on this node after waiting 300s: microk8s is not running\. Use microk8s inspect"):
        addons.apply(run, addons.normalize(["dns"]))
