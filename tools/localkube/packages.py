"""Install the Debian packages a level needs (a new machine has none of them)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from localkube.util import LocalkubeError, log, run

# command (or file) that proves the package is there -> Debian package
PROVIDES = {
    "openssl": ("openssl", "openssl"),
    "containerd": ("containerd", "containerd"),
    "ctr": ("ctr", "containerd"),
    "runc": ("runc", "runc"),
    "cni": ("/usr/lib/cni/bridge", "containernetworking-plugins"),
    "buildah": ("buildah", "buildah"),
    "debootstrap": ("debootstrap", "debootstrap"),
    "iptables": ("iptables", "iptables"),
    "conntrack": ("conntrack", "conntrack"),
    "mount": ("findmnt", "util-linux"),
    "ip": ("ip", "iproute2"),
}
API_NEEDS = ("openssl",)
NODE_NEEDS = ("openssl", "containerd", "ctr", "runc", "cni", "buildah", "debootstrap", "iptables",
              "conntrack", "ip")


def _present(probe: str) -> bool:
    return Path(probe).exists() if probe.startswith("/") else shutil.which(probe) is not None


def missing(*names: str) -> list[str]:
    pkgs = []
    for name in names:
        probe, pkg = PROVIDES[name]
        if not _present(probe) and pkg not in pkgs:
            pkgs.append(pkg)
    return pkgs


def ensure(*names: str) -> None:
    pkgs = missing(*names)
    if not pkgs:
        return
    if os.geteuid() != 0:
        raise LocalkubeError(f"needs the Debian packages {' '.join(pkgs)}: run as root or apt-get install them")
    if not shutil.which("apt-get"):
        raise LocalkubeError(f"needs {' '.join(pkgs)} and there is no apt-get to install them")
    log(f"installing {' '.join(pkgs)} (apt)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["apt-get", "update", "-qq"], what="apt-get update", env=env, timeout=600)
    # --no-install-recommends: containerd must not pull in a second runtime or start a service
    run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *pkgs], what=f"apt-get install {' '.join(pkgs)}",
        env=env, timeout=900)
    still = missing(*names)
    if still:
        raise LocalkubeError(f"apt-get installed but still missing: {' '.join(still)}")
