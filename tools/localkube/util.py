"""Shared helpers: paths, pins, subprocess calls that fail with a clear message."""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
PINS_FILE = HERE / "pins.toml"


class LocalkubeError(Exception):
    """An error the CLI prints as one clear message (no stack trace)."""


def log(msg: str) -> None:
    # Progress goes to stderr: stdout's last line is the machine-readable answer (a path).
    print(f"localkube: {msg}", file=sys.stderr, flush=True)


def pins() -> dict:
    with PINS_FILE.open("rb") as fh:
        data = tomllib.load(fh)
    for key in ("kubernetes", "etcd"):
        if not isinstance(data.get(key), str) or not data[key].startswith("v"):
            raise LocalkubeError(f"{PINS_FILE}: `{key}` must be a version string like v1.2.3")
    return data


def k8s_minor(version: str) -> str:
    """'v1.37.2' -> '1.37'."""
    parts = version.lstrip("v").split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts[:2]):
        raise LocalkubeError(f"not a Kubernetes version: {version!r}")
    return f"{parts[0]}.{parts[1]}"


def cache_root() -> Path:
    base = os.environ.get("DSA_LOCALKUBE_CACHE")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "dsa-platform" / "localkube"


def state_root() -> Path:
    return Path(os.environ.get("DSA_LOCALKUBE_STATE", "/var/lib/dsa-localkube"))


@functools.lru_cache(maxsize=None)
def go_version() -> str:
    go = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None)
    if not go:
        raise LocalkubeError("`go` not found on PATH: install Go (1.26) to build the Kubernetes binaries")
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=False)
    if out.returncode != 0 or not out.stdout.strip():
        raise LocalkubeError(f"`go env GOVERSION` failed: {out.stderr.strip()}")
    return out.stdout.strip()


def go_bin() -> str:
    go = shutil.which("go") or "/usr/local/go/bin/go"
    if not Path(go).exists():
        raise LocalkubeError("`go` not found on PATH: install Go (1.26) to build the Kubernetes binaries")
    return go


def run(cmd: list[str], *, what: str, log_file: Path | None = None, env: dict | None = None,
        cwd: Path | None = None, timeout: float = 120, check: bool = True,
        input_text: str | None = None) -> subprocess.CompletedProcess:
    """Run a command; on failure raise LocalkubeError naming `what` with the output's tail."""
    try:
        if log_file is not None:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            with log_file.open("a") as fh:
                proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                      timeout=timeout, text=True, input=input_text, check=False)
        else:
            proc = subprocess.run(cmd, capture_output=True, env=env, cwd=cwd, timeout=timeout,
                                  text=True, input=input_text, check=False)
    except subprocess.TimeoutExpired:
        raise LocalkubeError(f"{what}: timed out after {timeout:.0f}s ({' '.join(cmd[:3])} ...)"
                             + (f"\n{tail(log_file)}" if log_file else "")) from None
    except FileNotFoundError:
        raise LocalkubeError(f"{what}: command not found: {cmd[0]}") from None
    if check and proc.returncode != 0:
        detail = tail(log_file) if log_file else ((proc.stderr or "") + (proc.stdout or ""))[-3000:]
        raise LocalkubeError(f"{what} failed (exit {proc.returncode}):\n{detail}")
    return proc


def tail(path: Path | None, lines: int = 30) -> str:
    if path is None or not path.exists():
        return "(no log)"
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - 64 * 1024))
        data = fh.read().decode(errors="replace").splitlines()
    return f"--- last {lines} lines of {path} ---\n" + "\n".join(data[-lines:])


def atomic_write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "w") as fh:
        fh.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
