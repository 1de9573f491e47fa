"""Build the Kubernetes and etcd binaries from the Go module proxy, cached outside the checkout.

k8s.io/kubernetes cannot be `go install`ed (its go.mod has replace directives pointing at its
staging tree), so a tiny module of our own requires it and replaces every staging module with the
published v0.<minor>.<patch> of the same release.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
import time
from pathlib import Path

from localkube.util import LocalkubeError, atomic_write, cache_root, go_bin, go_version, log, pins, run

# The staging modules k8s.io/kubernetes replaces with ./staging/src/... (sample-cli-plugin and
# sample-controller are not needed by any command we build).
STAGING = (
    "api", "apiextensions-apiserver", "apimachinery", "apiserver", "cli-runtime", "client-go",
    "cloud-provider", "cluster-bootstrap", "code-generator", "component-base", "component-helpers",
    "controller-manager", "cri-api", "cri-client", "cri-streaming", "csi-translation-lib",
    "dynamic-resource-allocation", "endpointslice", "externaljwt", "kms", "kube-aggregator",
    "kube-controller-manager", "kube-proxy", "kube-scheduler", "kubectl", "kubelet", "metrics",
    "mount-utils", "pod-security-admission", "sample-apiserver", "streaming",
)

# binary name -> Go package
PACKAGES = {
    "etcd": "go.etcd.io/etcd/server/v3",
    "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
    "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
    "kubectl": "k8s.io/kubernetes/cmd/kubectl",
    "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
    "kubelet": "k8s.io/kubernetes/cmd/kubelet",
    "kube-proxy": "k8s.io/kubernetes/cmd/kube-proxy",
}
LEVEL_BINARIES = {
    "api": ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl"),
    "node": tuple(PACKAGES),
}
BUILD_TIMEOUT = float(os.environ.get("DSA_LOCALKUBE_BUILD_TIMEOUT", 3600))


def build_dir() -> Path:
    """Keyed by the Kubernetes and Go versions: another pin or toolchain gets its own binaries."""
    return cache_root() / f"{pins()['kubernetes']}-{go_version()}"


def bin_dir() -> Path:
    return build_dir() / "bin"


def go_env() -> dict:
    env = dict(os.environ)
    # Own module and build caches: a cold build is measurable and nothing else's cache is touched.
    env.update({
        "GOMODCACHE": str(cache_root() / "go" / "mod"),
        "GOCACHE": str(cache_root() / "go" / "build"),
        "GOPATH": str(cache_root() / "go" / "path"),
        "CGO_ENABLED": "0",
        "GOFLAGS": "-mod=mod -buildvcs=false",
        "GOTOOLCHAIN": "local",
    })
    return env


def go_mod(k8s: str, etcd: str) -> str:
    staging_version = "v0." + k8s.lstrip("v").split(".", 1)[1]
    lines = ["module dsa.local/localkube", "", "go 1.26", "",
             "require (", f"\tk8s.io/kubernetes {k8s}", f"\tgo.etcd.io/etcd/server/v3 {etcd}", ")", "",
             "replace ("]
    lines += [f"\tk8s.io/{m} => k8s.io/{m} {staging_version}" for m in STAGING]
    lines += [")", ""]
    return "\n".join(lines)


def ldflags(k8s: str) -> str:
    major, minor = k8s.lstrip("v").split(".")[:2]
    # Without these the servers report v0.0.0-master and kubectl refuses the version skew.
    # A fixed build date keeps the binaries bit-identical between builds.
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {pkg}.gitVersion={k8s}", f"-X {pkg}.gitMajor={major}", f"-X {pkg}.gitMinor={minor}",
                  f"-X {pkg}.gitTreeState=clean", f"-X {pkg}.buildDate=1970-01-01T00:00:00Z"]
    return " ".join(flags)


def missing(level: str) -> list[str]:
    return [b for b in LEVEL_BINARIES[level] if not (bin_dir() / b).is_file()]


def build(level: str = "api") -> Path:
    """Build the level's binaries unless cached; return the bin dir."""
    if level not in LEVEL_BINARIES:
        raise LocalkubeError(f"--level must be one of {', '.join(LEVEL_BINARIES)}, got {level!r}")
    out = _build_kubernetes(level)
    if level == "node" and os.environ.get("DSA_LOCALKUBE_COREDNS", "1") != "0":
        from localkube import coredns
        coredns.ensure_binary()
    return out


def _build_kubernetes(level: str) -> Path:
    need = missing(level)
    out = bin_dir()
    if not need:
        return out
    p = pins()
    src = build_dir() / "src"
    src.mkdir(parents=True, exist_ok=True)
    logf = build_dir() / "build.log"
    env = go_env()
    go = go_bin()
    started = time.monotonic()
    log(f"building {', '.join(need)} ({p['kubernetes']}, {go_version()}); log: {logf}")
    log("a cold build takes about 10 minutes and 3 GB of RAM; later runs use the cache")
    want = go_mod(p["kubernetes"], p["etcd"])
    if not (src / "go.mod").exists() or not (src / "go.mod.in").exists() \
            or (src / "go.mod.in").read_text() != want:
        atomic_write(src / "go.mod.in", want)
        atomic_write(src / "go.mod", want)
        (src / "go.sum").unlink(missing_ok=True)
    # Pull the module graph (only the packages we build) so go.sum is complete.
    run([go, "get"] + [f"{PACKAGES[b]}" for b in need], what="go get (module download)",
        log_file=logf, env=env, cwd=src, timeout=BUILD_TIMEOUT)
    t_mod = time.monotonic()
    tmp = build_dir() / "bin.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    # One invocation: the packages share most of their dependency graph.
    run([go, "build", "-trimpath", f"-ldflags={ldflags(p['kubernetes'])}", "-o", str(tmp) + "/"]
        + [PACKAGES[b] for b in need], what="go build", log_file=logf, env=env, cwd=src,
        timeout=BUILD_TIMEOUT)
    out.mkdir(parents=True, exist_ok=True)
    for b in need:
        # go names a /vN module's main after the element before the version: server -> etcd
        produced = tmp / ("server" if b == "etcd" else b)
        if not produced.is_file():
            raise LocalkubeError(f"go build produced no {produced.name} for {b}; see {logf}")
        os.replace(produced, out / b)
    shutil.rmtree(tmp, ignore_errors=True)
    done = time.monotonic()
    timing = {"binaries": need, "modules_s": round(t_mod - started, 1), "build_s": round(done - t_mod, 1),
              "total_s": round(done - started, 1), "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    with (build_dir() / "timings.jsonl").open("a") as fh:
        fh.write(json.dumps(timing) + "\n")
    log(f"built {', '.join(need)} in {timing['total_s']}s")
    return out



def go_build(module: str, version: str, package: str, binary: str, *, tags: tuple[str, ...] = (),
             ldflags_extra: str = "") -> Path:
    """Build `package` (a directory of module@version, "." for its root) once into the cache as
    `<binary>-<version>`; return its path. For the components that are plain Go modules (CoreDNS,
    the operators, Prometheus).

    It builds inside a copy of the module's own download, with its go.mod and go.sum
    (`-mod=readonly`: go.sum checks every dependency). `go install module@version` is not used: it
    refuses a go.mod with replace directives (the Prometheus Operator's, Prometheus's) and also asks
    the proxy for the module's version list, which is refused for some modules (postgres-operator)."""
    out = bin_dir() / f"{binary}-{version}"
    if out.is_file():
        return out
    logf = build_dir() / f"build-{binary}.log"
    log(f"building {binary} {version} (go build in {module}); log: {logf}")
    started = time.monotonic()
    src = module_dir(module, version)
    work = Path(tempfile.mkdtemp(prefix=f"dsa-localkube-{binary}."))
    try:
        tree = work / "src"
        _copy_writable(src, tree)
        # GOWORK=off: a go.work shipped in the module (Prometheus has one) names directories the
        # module's download leaves out; the release is its go.mod and go.sum.
        env = dict(go_env(), GOFLAGS="-mod=readonly -buildvcs=false", GOWORK="off")
        _place_nested_modules(tree, env)
        cmd = [go_bin(), "build", "-trimpath", f"-ldflags=-s -w {ldflags_extra}".strip(), "-o", str(work / binary)]
        if tags:
            cmd.append("-tags=" + ",".join(tags))
        target = "./" + package.strip("/") if package not in ("", ".") else "."
        run(cmd + [target], what=f"go build {binary}", log_file=logf, env=env, cwd=tree, timeout=BUILD_TIMEOUT)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(work / binary), out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    with (build_dir() / "timings.jsonl").open("a") as fh:
        fh.write(json.dumps({"binaries": [binary], "version": version,
                             "total_s": round(time.monotonic() - started, 1),
                             "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}) + "\n")
    return out


def module_dir(module: str, version: str) -> Path:
    """Download module@version (go.sum and the checksum database verify it); its directory."""
    cache_root().mkdir(parents=True, exist_ok=True)
    out = run([go_bin(), "mod", "download", "-json", f"{module}@{version}"], what=f"go mod download {module}",
              env=go_env(), cwd=cache_root(), timeout=900, check=False)
    try:
        info = json.loads(out.stdout)
    except ValueError:
        raise LocalkubeError(f"go mod download {module}@{version} failed: {out.stderr.strip()[-500:]}") from None
    if info.get("Error"):
        raise LocalkubeError(f"go mod download {module}@{version}: {info['Error']}")
    return Path(info["Dir"])


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
