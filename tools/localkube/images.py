"""Images without a registry: a debootstrap base, buildah in its own storage, ctr import."""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from localkube import build as lkbuild
from localkube import packages
from localkube.util import LocalkubeError, atomic_write, cache_root, go_bin, log, run

BASE_IMAGE = "localhost/dsa-localkube-base:bookworm-v1"
PAUSE_IMAGE = "localhost/dsa-localkube-pause:v1"
# What the apps' images need from Debian; everything else they install themselves.
BASE_PACKAGES = "python3,python3-venv,python3-pip,ca-certificates,tini"
_NAME = re.compile(r"^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$")


def _storage() -> Path:
    return cache_root() / "buildah"


def _env() -> dict:
    store = _storage()
    conf = store / "containers.conf"
    if not conf.exists():
        nofile = min(_hard_limit("-Hn", 1048576), 65536)
        atomic_write(conf, f'[containers]\ndefault_ulimits = ["nofile={nofile}:{nofile}"]\n\n'
                           '[engine]\nruntime = "runc"\n')
    env = dict(os.environ)
    env["CONTAINERS_CONF"] = str(conf)
    env["BUILDAH_ISOLATION"] = "chroot"
    return env


def _hard_limit(flag: str, default: int) -> int:
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return default if hard == resource.RLIM_INFINITY else int(hard)


def buildah(*args: str, what: str, timeout: float = 600, log_file: Path | None = None):
    store = _storage()
    # Own storage: podman's images and containers are never touched.
    cmd = ["buildah", "--root", str(store / "root"), "--runroot", str(store / "runroot"),
           "--storage-driver", "overlay", *args]
    return run(cmd, what=what, env=_env(), timeout=timeout, log_file=log_file)


def exists(name: str) -> bool:
    return buildah("images", "--quiet", "--noheading", "--filter", f"reference={name}",
                   what="buildah images").stdout.strip() != ""


def qualify(name: str) -> str:
    """'iot-api:0.1.0' -> 'localhost/iot-api:0.1.0' (a local name no registry resolves)."""
    if not _NAME.match(name):
        raise LocalkubeError(f"--tag {name!r}: expected NAME:TAG with lowercase name characters")
    if ":" not in name.rsplit("/", 1)[-1]:
        raise LocalkubeError(f"--tag {name!r}: give an explicit tag (NAME:TAG); `latest` is never pulled locally")
    first = name.split("/", 1)[0]
    if "/" in name and ("." in first or ":" in first or first == "localhost"):
        return name
    return f"localhost/{name}"


def debian_mirror() -> str:
    if os.environ.get("DSA_DEBIAN_MIRROR"):
        return os.environ["DSA_DEBIAN_MIRROR"]
    for src in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        try:
            text = src.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith(("URIs:", "deb ")) and "security" not in line:
                m = re.search(r"https?://\S+", line)
                if m:
                    return m.group(0)
    raise LocalkubeError("cannot find a Debian mirror in /etc/apt; set DSA_DEBIAN_MIRROR")


def ensure_base() -> str:
    """The base every local image starts FROM (build arg BASE_IMAGE)."""
    packages.ensure("buildah", "debootstrap")
    if exists(BASE_IMAGE):
        return BASE_IMAGE
    logf = _storage() / "debootstrap.log"
    log(f"building {BASE_IMAGE} with debootstrap (about a minute); log: {logf}")
    rootfs = Path(tempfile.mkdtemp(prefix="dsa-localkube-rootfs.", dir="/var/tmp"))
    try:
        run(["debootstrap", "--variant=minbase", f"--include={BASE_PACKAGES}", "bookworm", str(rootfs),
             debian_mirror()], what="debootstrap of the base image", log_file=logf, timeout=900)
        # Extra CAs the host trusts (e.g. an egress proxy's), so pip/apt in image builds work as here.
        extra = sorted(Path("/usr/local/share/ca-certificates").glob("*.crt"))
        for crt in extra:
            shutil.copy(crt, rootfs / "usr/local/share/ca-certificates" / crt.name)
        if extra:
            run(["chroot", str(rootfs), "update-ca-certificates"], what="update-ca-certificates in base")
        for sub in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for p in (rootfs / sub).glob("*"):
                if p.is_file():
                    p.unlink()
        tar = rootfs.with_suffix(".tar")
        run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(tar), "."], what="tar base rootfs",
            timeout=300)
        ctr = buildah("from", "scratch", what="buildah from scratch").stdout.strip()
        try:
            buildah("add", ctr, str(tar), "/", what="buildah add base rootfs", timeout=300)
            buildah("config", "--env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "--env", "LANG=C.UTF-8", "--cmd", "/bin/bash", ctr, what="buildah config base")
            buildah("commit", "--rm", ctr, BASE_IMAGE, what="buildah commit base", timeout=300)
        finally:
            buildah("rm", ctr, what="buildah rm", timeout=60).returncode if _container_exists(ctr) else None
        tar.unlink(missing_ok=True)
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
        rootfs.with_suffix(".tar").unlink(missing_ok=True)
    return BASE_IMAGE


def _container_exists(ctr: str) -> bool:
    out = buildah("containers", "--quiet", "--noheading", what="buildah containers").stdout.split()
    return any(ctr.startswith(c) or c.startswith(ctr[:12]) for c in out)


def ensure_pause() -> str:
    """A scratch image holding a static pause binary: the sandbox image, no registry needed."""
    packages.ensure("buildah")
    if exists(PAUSE_IMAGE):
        return PAUSE_IMAGE
    work = Path(tempfile.mkdtemp(prefix="dsa-localkube-pause."))
    try:
        env = lkbuild.go_env()
        run([go_bin(), "build", "-trimpath", "-ldflags=-s -w", "-o", str(work / "pause"),
             str(Path(__file__).parent / "pause" / "main.go")], what="go build pause", env=env, timeout=600)
        ctr = buildah("from", "scratch", what="buildah from scratch").stdout.strip()
        buildah("copy", ctr, str(work / "pause"), "/pause", what="buildah copy pause")
        buildah("config", "--entrypoint", '["/pause"]', "--user", "65535:65535", ctr, what="buildah config pause")
        buildah("commit", "--rm", ctr, PAUSE_IMAGE, what="buildah commit pause")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return PAUSE_IMAGE


def build_image(tag: str, context: Path, containerfile: Path | None, build_args: list[str]) -> str:
    """buildah bud on the local base; returns the qualified name."""
    name = qualify(tag)
    if not context.is_dir():
        raise LocalkubeError(f"CONTEXT_DIR {context}: not a directory")
    cf = containerfile or next((context / n for n in ("Containerfile", "Dockerfile") if (context / n).exists()), None)
    if cf is None or not Path(cf).is_file():
        raise LocalkubeError(f"--file: no Containerfile found ({cf or context / 'Containerfile'})")
    args = []
    seen = set()
    for item in build_args:
        if "=" not in item or not item.split("=", 1)[0]:
            raise LocalkubeError(f"--build-arg {item!r}: expected KEY=VALUE")
        seen.add(item.split("=", 1)[0])
        args += ["--build-arg", item]
    base = ensure_base()
    if "BASE_IMAGE" not in seen:
        args += ["--build-arg", f"BASE_IMAGE={base}"]
    logf = _storage() / "logs" / (re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".log")
    logf.parent.mkdir(parents=True, exist_ok=True)
    logf.write_text("")
    log(f"building {name} from {cf}; log: {logf}")
    buildah("bud", "--pull=never", "--isolation", "chroot", "--network", "host", "--layers",
            "-f", str(cf), "-t", name, *args, str(context), what=f"image build {name}", timeout=1800,
            log_file=logf)
    return name


def export_archive(name: str, dest: Path) -> Path:
    dest.unlink(missing_ok=True)
    buildah("push", name, f"oci-archive:{dest}:{name}", what=f"export {name} as oci-archive", timeout=600)
    return dest


def image_id(name: str) -> str:
    return buildah("images", "--quiet", "--noheading", "--no-trunc", "--filter", f"reference={name}",
                   what="buildah images").stdout.split()[0].removeprefix("sha256:")


def cached_archive(name: str) -> Path:
    """An oci-archive of the image, kept per image ID: exporting is the slow part of an import
    (buildah tars every layer again, 20-60 s a large image on a loaded machine), and a fresh node
    imports the same images every time. Archives of older IDs of the same name are removed."""
    store = _storage() / "archives"
    store.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    dest = store / f"{stem}@{image_id(name)[:16]}.oci.tar"
    if not dest.exists():
        for old in store.glob(f"{stem}@*.oci.tar"):
            old.unlink(missing_ok=True)
        partial = dest.with_name(f"{dest.name}.{os.getpid()}.partial")
        try:
            export_archive(name, partial)
            partial.rename(dest)
        finally:
            partial.unlink(missing_ok=True)
    return dest


def ctr_import(name: str, address: Path, tmpdir: Path) -> None:
    """Import a buildah image into containerd's k8s.io namespace under its local name.
    (tmpdir is no longer used: the archive is cached beside buildah's storage.)"""
    if not exists(name):
        raise LocalkubeError(f"image {name} not found in localkube's buildah storage: build it first "
                             "(scripts/localkube image build --tag ...)")
    archive = cached_archive(name)
    ctr = ["ctr", "--address", str(address), "-n", "k8s.io"]
    run(ctr + ["images", "import", str(archive)],
        what=f"ctr images import {name}", timeout=600)
    listed = run(ctr + ["images", "ls", "-q"], what="ctr images ls").stdout.split()
    if name not in listed:
        raise LocalkubeError(f"ctr import of {name} did not register the name; present: {listed}")
    # The kubelet normalises short names to docker.io/library/...: answer to that too.
    short = name.removeprefix("localhost/")
    if "/" not in short:
        alias = f"docker.io/library/{short}"
        run(ctr + ["images", "rm", alias], what="ctr images rm", check=False)
        run(ctr + ["images", "tag", name, alias], what=f"ctr images tag {alias}")
