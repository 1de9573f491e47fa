"""Run a module's main() as Ansible would, with AnsibleModule's exits turned into exceptions the
test can catch (the kubernetes.core unit-test style). Shared by the module tests in this folder."""
import pytest
from ansible.module_utils import basic


class Exit(Exception):
    """exit_json was called; args[0] holds the result."""


class Fail(Exception):
    """fail_json was called; args[0] holds the result, msg included."""


def exit_json(self, **kwargs):
    raise Exit(kwargs)


def fail_json(self, msg, **kwargs):
    kwargs["msg"] = msg
    raise Fail(kwargs)


def mock_exits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
