"""Shared testinfra setup for every molecule scenario.

Molecule hands testinfra an Ansible inventory whose hosts use the containers.podman.podman
connection. Testinfra does not map that connection to its own backend and falls back to running
every check as an Ansible module (about a second each); talking to podman directly is much faster.
"""
import pytest
import testinfra


@pytest.fixture(scope="module")
def host(_testinfra_host):
    name = _testinfra_host.backend.get_hostname()
    return testinfra.get_host(f"podman://{name}")


def http(host, method, url, key=None, body=None, headers=()):
    """One HTTP request made with curl inside a test host: (status, response headers, body)."""
    import json
    import shlex

    args = ["curl", "-sS", "-X", method, "-D", "/dev/stderr", "-w", "\n%{http_code}", url]
    if key:
        args += ["-H", f"Authorization: Bearer {key}"]
    if body is not None:
        args += ["-H", "Content-Type: application/json", "--data-binary", json.dumps(body)]
    for header in headers:
        args += ["-H", header]
    out = host.run(" ".join(shlex.quote(a) for a in args))
    assert out.rc == 0, out.stderr
    text, _, status = out.stdout.rpartition("\n")
    return int(status), out.stderr, text


def controller_credential(name):
    """A secret a converge wrote on the controller under the molecule ephemeral credentials dir."""
    import os

    path = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "credentials", name)
    assert os.stat(path).st_mode & 0o777 == 0o600, f"{path} must be readable by its owner only"
    with open(path, encoding="utf-8") as handle:
        return handle.read().strip()
