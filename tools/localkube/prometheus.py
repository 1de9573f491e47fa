"""The Prometheus Operator stack from its Go modules, in scratch images, for clusters without the
MicroK8s observability add-on: the operator, its config reloader and the Prometheus it runs.

Each command is built by build.go_build, inside a verified copy of its module (both modules' go.mod
files carry replace directives).
"""
from __future__ import annotations

import json
from pathlib import Path

from localkube import build as lkbuild
from localkube import images, packages
from localkube.util import LocalkubeError, pins

OPERATOR_MODULE = "github.com/prometheus-operator/prometheus-operator"
PROMETHEUS_MODULE = "github.com/prometheus/prometheus"
# Only the Kubernetes service discovery (plus the always-built file/static/http ones): the cloud
# providers' SDKs are most of Prometheus's compile time and nothing here uses them.
PROMETHEUS_TAGS = ("remove_all_sd", "enable_kubernetes_sd")


def prometheus_release() -> str:
    """Module v0.313.1 is Prometheus v3.13.1 (the version a Prometheus CR names)."""
    minor_patch = pins()["prometheus"].removeprefix("v0.")
    major_minor, patch = minor_patch.split(".")
    return f"v{major_minor[0]}.{int(major_minor[1:])}.{patch}"


def _version_ldflags(version: str) -> str:
    # Both report their version through prometheus/common (build_info metrics, --version).
    return f"-X github.com/prometheus/common/version.Version={version.lstrip('v')}"


def ensure_binaries() -> dict[str, Path]:
    op = pins()["prometheus_operator"]
    return {
        "operator": lkbuild.go_build(OPERATOR_MODULE, op, "cmd/operator", "prometheus-operator",
                                       ldflags_extra=_version_ldflags(op)),
        "prometheus-config-reloader": lkbuild.go_build(
            OPERATOR_MODULE, op, "cmd/prometheus-config-reloader", "prometheus-config-reloader",
            ldflags_extra=_version_ldflags(op)),
        "prometheus": lkbuild.go_build(PROMETHEUS_MODULE, pins()["prometheus"], "cmd/prometheus", "prometheus",
                                         tags=PROMETHEUS_TAGS, ldflags_extra=_version_ldflags(prometheus_release())),
    }


def image_names() -> dict[str, str]:
    op = pins()["prometheus_operator"]
    return {
        "operator": f"localhost/dsa-localkube-prometheus-operator:{op}",
        "prometheus-config-reloader": f"localhost/dsa-localkube-prometheus-config-reloader:{op}",
        "prometheus": f"localhost/dsa-localkube-prometheus:{prometheus_release()}",
    }


def ensure_images() -> dict[str, str]:
    """Scratch images with the binary at /bin/<name>: where the operator's generated pods call the
    reloader, and the entrypoint the Prometheus container's arguments are given to."""
    packages.ensure("buildah")
    names = image_names()
    binaries = None
    for key, name in names.items():
        if images.exists(name):
            continue
        binaries = binaries or ensure_binaries()
        ctr = images.buildah("from", "scratch", what="buildah from scratch").stdout.strip()
        images.buildah("copy", "--chmod", "0755", ctr, str(binaries[key]), f"/bin/{key}", what=f"buildah copy {key}")
        images.buildah("config", "--entrypoint", json.dumps([f"/bin/{key}"]), "--user", "65534:65534",
                       "--workingdir", "/", ctr, what=f"buildah config {key}")
        images.buildah("commit", "--rm", ctr, name, what=f"buildah commit {key}")
    return names


def import_images(sock: Path, tmpdir: Path) -> dict[str, str]:
    names = ensure_images()
    for name in names.values():
        images.ctr_import(name, sock, tmpdir)
    return names


def crd_paths() -> list[Path]:
    """The operator's CRDs read in place from its downloaded module (never copied into the repo)."""
    crds = lkbuild.module_dir(OPERATOR_MODULE, pins()["prometheus_operator"]) / "example" / "prometheus-operator-crd"
    paths = sorted(crds.glob("monitoring.coreos.com_*.yaml"))
    if not paths:
        raise LocalkubeError(f"no CRDs under {crds}")
    return paths


if __name__ == "__main__":  # python -m localkube.prometheus: build the images, print their names
    print(json.dumps(ensure_images(), indent=2))
