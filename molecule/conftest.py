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
