#!/usr/bin/env python3
"""Build Python packages' wheels on the controller, reproducibly, without touching the source trees.

    build_wheel.py SOURCE_DIR [SOURCE_DIR...] OUT_DIR

The last SOURCE_DIR is the application; the ones before it are local packages it depends on (the
shared apps/dsa_service), installed together with it and never looked up in a package index.

Each source is copied to a temporary directory first (setuptools writes build/ and *.egg-info into
the tree it builds, and a stale build/ can leak deleted modules into the wheel). SOURCE_DATE_EPOCH
is fixed, so the same source gives the same bytes: OUT_DIR/<wheel> is replaced only when it
differs, and when the source is the one the current wheel was built from (a digest of the files,
kept in OUT_DIR/source-<directory name>.json) pip is not even run.

Prints one JSON object: wheels (for each source in order: wheel (file name), path, changed,
sha256), changed (any of them), wheel, path and sha256 of the application, and requires: the
runtime Requires-Dist of all the wheels (extras left out) without the packages built here.
"""
import email.parser
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile

IGNORE = shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__", "tests", "bench", ".*")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def source_digest(source):
    h = hashlib.sha256()
    for root, dirs, files in os.walk(source):
        ignored = IGNORE(root, dirs + files)
        dirs[:] = sorted(d for d in dirs if d not in ignored)
        for name in sorted(f for f in files if f not in ignored):
            path = os.path.join(root, name)
            h.update(os.path.relpath(path, source).encode() + b"\0" + sha256(path).encode() + b"\0")
    return h.hexdigest()


def requires(wheel):
    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        msg = email.parser.Parser().parsestr(z.read(meta).decode("utf-8"))
    return [r.strip() for r in msg.get_all("Requires-Dist") or [] if "extra ==" not in r]


def project_name(wheel_name):
    """The normalised distribution name of a wheel file (PEP 503): dsa_service-0.1.0-... -> dsa-service."""
    return re.sub(r"[-_.]+", "-", wheel_name.split("-")[0]).lower()


def requirement_name(requirement):
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement).group(0)).lower()


def build(source, out_dir):
    """One source's wheel in out_dir: (wheel file name, path, changed) or None when pip failed."""
    digest_file = os.path.join(out_dir, f"source-{os.path.basename(os.path.abspath(source))}.json")
    src_digest = source_digest(source)
    try:
        with open(digest_file, encoding="utf-8") as f:
            known = json.load(f)
    except (OSError, ValueError):
        known = {}
    target = os.path.join(out_dir, known.get("wheel", "-"))
    if known.get("source") == src_digest and os.path.isfile(target):
        return known["wheel"], target, False
    with tempfile.TemporaryDirectory(prefix="dsa-wheel-build-") as tmp:
        src = os.path.join(tmp, "src")
        shutil.copytree(source, src, ignore=IGNORE)
        wheels = os.path.join(tmp, "wheels")
        env = dict(os.environ, SOURCE_DATE_EPOCH="315532800")
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", wheels, src],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
        if proc.returncode != 0:
            sys.stderr.write(f"{source}: pip wheel failed\n{proc.stdout}")
            return None
        (name,) = [n for n in os.listdir(wheels) if n.endswith(".whl")]
        built = os.path.join(wheels, name)
        target = os.path.join(out_dir, name)
        changed = not os.path.exists(target) or sha256(target) != sha256(built)
        if changed:
            shutil.copyfile(built, target + ".tmp")
            os.replace(target + ".tmp", target)
    with open(digest_file + ".tmp", "w", encoding="utf-8") as f:
        json.dump({"source": src_digest, "wheel": name}, f)
    os.replace(digest_file + ".tmp", digest_file)
    return name, target, changed


def main(sources, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    wheels = []
    for source in sources:
        result = build(source, out_dir)
        if result is None:
            return 1
        name, path, changed = result
        wheels.append({"wheel": name, "path": path, "changed": changed, "sha256": sha256(path)})
    local = {project_name(w["wheel"]) for w in wheels}
    needed = []
    for w in wheels:
        for r in requires(w["path"]):
            if requirement_name(r) not in local and r not in needed:
                needed.append(r)
    app = wheels[-1]
    print(json.dumps({"wheels": wheels, "changed": any(w["changed"] for w in wheels),
                      "wheel": app["wheel"], "path": app["path"], "sha256": app["sha256"],
                      "requires": needed}))
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1:-1], sys.argv[-1]))
