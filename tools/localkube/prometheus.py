"""The Prometheus Operator stack from its Go modules, in scratch images, for clusters without the
MicroK8s observability add-on: the operator, its config reloader and the Prometheus it runs.

Both modules' go.mod files carry replace directives, so `go install module@version` refuses them
(build.go_install); each is built inside a copy of its downloaded module instead, where the
replaces apply and `-mod=readonly` with the module's own go.sum checks every dependency.
"""
from __future__ import annotations

import json
import shutil
import stat
import tempfile
import time
from pathlib import Path

from localkube import build as lkbuild
from localkube import images, packages
from localkube.util import LocalkubeError, cache_root, go_bin, log, pins, run

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


def module_dir(module: str, version: str) -> Path:
    """Download (go.sum and the checksum database verify it) and return the module's directory."""
    out = run([go_bin(), "mod", "download", "-json", f"{module}@{version}"], what=f"go mod download {module}",
              env=lkbuild.go_env(), cwd=cache_root(), timeout=900)
    info = json.loads(out.stdout)
    if info.get("Error"):
        raise LocalkubeError(f"go mod download {module}@{version}: {info['Error']}")
    return Path(info["Dir"])


def go_build_in_module(module: str, version: str, package: str, binary: str, *,
                       tags: tuple[str, ...] = (), ldflags_extra: str = "") -> Path:
    """Build ./package of module@version once into the cache as `<binary>-<version>`."""
    out = lkbuild.bin_dir() / f"{binary}-{version}"
    if out.is_file():
        return out
    logf = lkbuild.build_dir() / f"build-{binary}.log"
    log(f"building {binary} {version} (go build in {module}); log: {logf}")
    started = time.monotonic()
    src = module_dir(module, version)
    work = Path(tempfile.mkdtemp(prefix=f"dsa-localkube-{binary}."))
    try:
        tree = work / "src"
        _copy_writable(src, tree)
        # GOWORK=off: a go.work shipped in the module (Prometheus has one) names directories the
        # module's download leaves out; the release is its go.mod and go.sum.
        env = dict(lkbuild.go_env(), GOFLAGS="-mod=readonly -buildvcs=false", GOWORK="off")
        _place_nested_modules(tree, env)
        cmd = [go_bin(), "build", "-trimpath", f"-ldflags=-s -w {ldflags_extra}".strip(), "-o", str(work / binary)]
        if tags:
            cmd.append("-tags=" + ",".join(tags))
        run(cmd + [f"./{package}"], what=f"go build {binary}", log_file=logf, env=env, cwd=tree,
            timeout=lkbuild.BUILD_TIMEOUT)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(work / binary), out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    with (lkbuild.build_dir() / "timings.jsonl").open("a") as fh:
        fh.write(json.dumps({"binaries": [binary], "version": version,
                             "total_s": round(time.monotonic() - started, 1),
                             "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}) + "\n")
    return out


def _copy_writable(src: Path, dest: Path) -> None:
    shutil.copytree(src, dest, symlinks=True)
    for path in [dest, *dest.rglob("*")]:  # the module cache is read-only; the copy need not be
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | stat.S_IWUSR)


def _place_nested_modules(tree: Path, env: dict) -> None:
    """A `replace M => ./dir` names a nested module, which is its own download and not in the
    parent's: put M at the version the parent requires where the replace expects it."""
    mod = json.loads(run([go_bin(), "mod", "edit", "-json"], what="go mod edit -json", env=env, cwd=tree).stdout)
    required = {r["Path"]: r["Version"] for r in mod.get("Require") or []}
    for rep in mod.get("Replace") or []:
        new = rep["New"]
        if new.get("Version") or not new["Path"].startswith("./"):
            continue
        old = rep["Old"]["Path"]
        if old not in required:
            raise LocalkubeError(f"{tree / 'go.mod'}: replace of {old} names a directory but no required version")
        dest = tree / new["Path"]
        if not (dest / "go.mod").exists():
            shutil.rmtree(dest, ignore_errors=True)
            _copy_writable(module_dir(old, required[old]), dest)


def _version_ldflags(version: str) -> str:
    # Both report their version through prometheus/common (build_info metrics, --version).
    return f"-X github.com/prometheus/common/version.Version={version.lstrip('v')}"


def ensure_binaries() -> dict[str, Path]:
    op = pins()["prometheus_operator"]
    return {
        "operator": go_build_in_module(OPERATOR_MODULE, op, "cmd/operator", "prometheus-operator",
                                       ldflags_extra=_version_ldflags(op)),
        "prometheus-config-reloader": go_build_in_module(
            OPERATOR_MODULE, op, "cmd/prometheus-config-reloader", "prometheus-config-reloader",
            ldflags_extra=_version_ldflags(op)),
        "prometheus": go_build_in_module(PROMETHEUS_MODULE, pins()["prometheus"], "cmd/prometheus", "prometheus",
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
    crds = module_dir(OPERATOR_MODULE, pins()["prometheus_operator"]) / "example" / "prometheus-operator-crd"
    paths = sorted(crds.glob("monitoring.coreos.com_*.yaml"))
    if not paths:
        raise LocalkubeError(f"no CRDs under {crds}")
    return paths


if __name__ == "__main__":  # python -m localkube.prometheus: build the images, print their names
    print(json.dumps(ensure_images(), indent=2))
