"""Start components as detached processes, wait for them with bounded time, stop them by pid."""
from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from localkube.util import LocalkubeError, log, tail


def free_port(preferred: int | None = None) -> int:
    for port in ([preferred] if preferred else []) + [0]:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise LocalkubeError("no free TCP port on 127.0.0.1")


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


# Processes this run started: polled directly (right after fork /proc still shows our own
# command line, and an exited child stays a zombie until waited for).
_CHILDREN: dict[int, subprocess.Popen] = {}


def start(name: str, argv: list[str], log_file: Path, env: dict | None = None) -> int:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as fh:
        try:
            proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=env, start_new_session=True, close_fds=True)
        except OSError as exc:
            raise LocalkubeError(f"{name}: cannot start {argv[0]}: {exc}") from None
    _CHILDREN[proc.pid] = proc
    return proc.pid


def alive(pid: int, marker: str | None = None) -> bool:
    """True when pid runs and (if given) its command line contains marker (guards pid reuse)."""
    if pid in _CHILDREN:
        return _CHILDREN[pid].poll() is None
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if stat.rsplit(")", 1)[1].split()[0] == "Z":
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        return False
    return marker is None or marker in raw.decode(errors="replace")


def stop(pid: int, marker: str, grace: float = 15) -> None:
    if not alive(pid, marker):
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not alive(pid, marker):
            return
        time.sleep(0.2)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and alive(pid, marker):
        time.sleep(0.1)


def wait_for(component: str, check: Callable[[], bool], *, timeout: float, pid: int | None,
             log_file: Path, marker: str | None = None, interval: float = 0.3) -> float:
    """Poll check() until True; fail naming the component with its log's tail. Returns seconds."""
    started = time.monotonic()
    deadline = started + timeout
    last_exc: Exception | None = None
    while True:
        if pid is not None and not alive(pid, marker):
            raise LocalkubeError(f"{component} exited during start-up\n{tail(log_file)}")
        try:
            if check():
                took = time.monotonic() - started
                log(f"{component} ready ({took:.1f}s)")
                return took
        except Exception as exc:  # noqa: BLE001 - any failure of a probe just means "not yet"
            last_exc = exc
        if time.monotonic() >= deadline:
            why = f" (last probe error: {last_exc})" if last_exc else ""
            raise LocalkubeError(f"{component} did not become ready within {timeout:.0f}s{why}\n{tail(log_file)}")
        time.sleep(interval)


def https_get(url: str, pki: Path | None, cert: str | None = "admin", timeout: float = 3) -> tuple[int, bytes]:
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt")) if pki else ssl._create_unverified_context()
    if pki and cert:
        ctx.load_cert_chain(str(pki / f"{cert}.crt"), str(pki / f"{cert}.key"))
    if not pki:
        ctx.check_hostname = False
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def http_get(url: str, timeout: float = 3) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def healthz(url: str) -> Callable[[], bool]:
    return lambda: https_get(url, None, None)[0] == 200


def etcd_health(port: int) -> Callable[[], bool]:
    def check() -> bool:
        status, body = http_get(f"http://127.0.0.1:{port}/health")
        return status == 200 and json.loads(body).get("health") == "true"
    return check
