"""The shared molecule base really enforces idempotence: a converge that changes something on
its second run fails the scenario (on a real podman+systemd test host)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[3]
HERE = Path(__file__).parent


@pytest.mark.integration
@pytest.mark.skipif(shutil.which("podman") is None, reason="podman is installed by scripts/testhost.sh (make test does it)")
def test_a_non_idempotent_task_fails_the_scenario():
    env_line = subprocess.run(["bash", str(ROOT / "scripts" / "testhost.sh"), "env"], check=True,
                              capture_output=True, text=True).stdout
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    for assignment in env_line.replace("export ", "").split():
        key, _, value = assignment.partition("=")
        env[key] = value
    subprocess.run(["bash", str(ROOT / "scripts" / "testhost.sh"), "image"], check=True, env=env, capture_output=True)
    result = subprocess.run(["molecule", "test", "-s", "not_idempotent"], cwd=HERE, env=env,
                            capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert "Idempotence test failed" in output, output[-3000:]
    assert "Append a line on every run" in output  # the offending task is named
