"""The collection builds, installs offline from its tarball, and documents its content."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[3]
BIN = Path(sys.executable).parent


def _run(*args, cwd, env=None):
    return subprocess.run(args, cwd=cwd, env=env, check=True, capture_output=True, text=True)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    build = tmp_path_factory.mktemp("build")
    _run(str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(build), str(ROOT), cwd=ROOT)
    version = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
    tarball = build / f"dsa-platform-{version}.tar.gz"
    assert tarball.is_file()
    dest = tmp_path_factory.mktemp("collections")
    # --no-deps: dependencies come from the pinned wheel, not Galaxy (there is none here).
    _run(str(BIN / "ansible-galaxy"), "collection", "install", "--offline", "--no-deps", "--force",
         "-p", str(dest), str(tarball), cwd=build)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=f"{dest}:{ROOT / '.cache' / 'collections'}")
    # Only the installed copy may answer for dsa.platform, not the checkout's link.
    env["ANSIBLE_COLLECTIONS_SCAN_SYS_PATH"] = "false"
    return dest, env, tarball


def test_tarball_leaves_out_local_state(installed):
    dest, _, tarball = installed
    root = dest / "ansible_collections" / "dsa" / "platform"
    for unwanted in (".venv", ".cache", ".git", "tests/output"):
        assert not (root / unwanted).exists(), f"{unwanted} was packed into {tarball.name}"
    manifest = json.loads((root / "MANIFEST.json").read_text())
    assert manifest["collection_info"]["dependencies"]["kubernetes.core"].startswith(">=")


def test_installed_collection_lists_its_roles_and_plugins(installed):
    dest, env, _ = installed
    cwd = dest  # away from the checkout's ansible.cfg
    roles = json.loads(_run(str(BIN / "ansible-doc"), "-t", "role", "-l", "dsa.platform", "-j", cwd=cwd, env=env).stdout)
    expected_roles = {f"dsa.platform.{p.name}" for p in (ROOT / "roles").iterdir() if (p / "meta" / "argument_specs.yml").is_file()}
    assert expected_roles and expected_roles <= set(roles)
    filters = json.loads(_run(str(BIN / "ansible-doc"), "-t", "filter", "-l", "dsa.platform", "-j", cwd=cwd, env=env).stdout)
    assert "dsa.platform.sysctl_floor" in filters
    modules = {p.stem for p in (ROOT / "plugins" / "modules").glob("*.py") if p.stem != "__init__"}
    if modules:
        listed = json.loads(_run(str(BIN / "ansible-doc"), "-l", "dsa.platform", "-j", cwd=cwd, env=env).stdout)
        assert {f"dsa.platform.{m}" for m in modules} <= set(listed)
