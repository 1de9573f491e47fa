#!/usr/bin/env python3
"""Build the application's wheel on the controller, reproducibly, without touching the source tree.

    build_wheel.py SOURCE_DIR OUT_DIR

The source is copied to a temporary directory first (setuptools writes build/ and *.egg-info into
the tree it builds, and a stale build/ can leak deleted modules into the wheel). SOURCE_DATE_EPOCH
is fixed, so the same source gives the same bytes: OUT_DIR/<wheel> is replaced only when it
differs, and when the source is the one the current wheel was built from (a digest of the
files, kept in OUT_DIR/source.json) pip is not even run. Prints one JSON object: wheel (file name), path, changed, sha256 and requires (the
runtime Requires-Dist of the wheel, extras left out).
"""
import email.parser
import hashlib
import json
import os
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


def main(source, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    digest_file = os.path.join(out_dir, "source.json")
    src_digest = source_digest(source)
    try:
        with open(digest_file, encoding="utf-8") as f:
            known = json.load(f)
    except (OSError, ValueError):
        known = {}
    target = os.path.join(out_dir, known.get("wheel", "-"))
    if known.get("source") == src_digest and os.path.isfile(target):
        print(json.dumps({"wheel": known["wheel"], "path": target, "changed": False,
                          "sha256": sha256(target), "requires": requires(target)}))
        return 0
    with tempfile.TemporaryDirectory(prefix="iot-api-build-") as tmp:
        src = os.path.join(tmp, "src")
        shutil.copytree(source, src, ignore=IGNORE)
        wheels = os.path.join(tmp, "wheels")
        env = dict(os.environ, SOURCE_DATE_EPOCH="315532800")
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", wheels, src],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout)
            return proc.returncode
        (name,) = [n for n in os.listdir(wheels) if n.endswith(".whl")]
        built = os.path.join(wheels, name)
        target = os.path.join(out_dir, name)
        digest = sha256(built)
        changed = not os.path.exists(target) or sha256(target) != digest
        if changed:
            shutil.copyfile(built, target + ".tmp")
            os.replace(target + ".tmp", target)
    with open(digest_file + ".tmp", "w", encoding="utf-8") as f:
        json.dump({"source": src_digest, "wheel": name}, f)
    os.replace(digest_file + ".tmp", digest_file)
    print(json.dumps({"wheel": name, "path": target, "changed": changed, "sha256": digest,
                      "requires": requires(target)}))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
