"""The README's offline install, from an empty collections directory and without Galaxy.

The tarball alone cannot install offline (its dependencies would come from Galaxy); with the
dependencies unpacked first by scripts/install_collections.py (from the pinned `ansible` wheel),
`ansible-galaxy collection install --offline` succeeds and the collection and its dependencies work."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[3]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    build = tmp_path_factory.mktemp("build")
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(build), str(ROOT)],
                   cwd=ROOT, check=True, capture_output=True, text=True)
    version = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
    return build / f"dsa-platform-{version}.tar.gz"


def _env(path):
    # Only the empty directory under test: no checkout link, no ~/.ansible, no pip-installed collections.
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(path), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false")
    env.pop("ANSIBLE_CONFIG", None)  # the checkout's config names its own collections path; cwd has none
    return env


def _galaxy_install(path, tarball):
    return subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", "--offline", "-p", str(path),
                           str(tarball)], cwd=path, env=_env(path), capture_output=True, text=True, timeout=300)


def test_the_tarball_alone_names_the_missing_dependency(tmp_path, tarball):
    out = _galaxy_install(tmp_path, tarball)
    assert out.returncode != 0
    assert "kubernetes.core" in out.stdout + out.stderr
    assert not (tmp_path / "ansible_collections" / "dsa" / "platform").exists()


def test_dependencies_first_then_the_tarball_installs_offline(tmp_path, tarball):
    subprocess.run([sys.executable, str(ROOT / "scripts" / "install_collections.py"), "--dest", str(tmp_path)],
                   check=True, capture_output=True, text=True, timeout=600)
    assert not (tmp_path / "ansible_collections" / "dsa").exists(), "without --project nothing is linked"
    out = _galaxy_install(tmp_path, tarball)
    assert out.returncode == 0, out.stdout + out.stderr
    installed = tmp_path / "ansible_collections" / "dsa" / "platform"
    assert installed.is_dir() and not installed.is_symlink()
    for plugin in ("dsa.platform.k6_run", "dsa.platform.http_ready", "kubernetes.core.k8s"):
        doc = subprocess.run([str(BIN / "ansible-doc"), "-t", "module", plugin], cwd=tmp_path, env=_env(tmp_path),
                             capture_output=True, text=True, timeout=120)
        assert doc.returncode == 0 and plugin in doc.stdout, doc.stderr
