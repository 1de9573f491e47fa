"""Build one command of a published Go module through a small module of ours, cached like go_install.

`go install package@version` also asks the module proxy for the module's version list (to report a
deprecation) and fails when that list is refused, as it is for github.com/zalando/postgres-operator
here although its release versions are served. A module of ours that requires the exact version
never asks for the list; go.sum still checks every download.

    python -m localkube.gomodule MODULE VERSION PACKAGE BINARY   # prints the binary's path
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from localkube.build import BUILD_TIMEOUT, bin_dir, build_dir, go_env
from localkube.util import LocalkubeError, atomic_write, go_bin, log, run


def go_mod(module: str, version: str, binary: str) -> str:
    return "\n".join([f"module dsa.local/{binary}", "", "go 1.26", "", f"require {module} {version}", ""])


def go_build(module: str, version: str, package: str, binary: str) -> Path:
    """Build `package` of `module@version` once into the cache as `<binary>-<version>`; return its path."""
    if not package.startswith(module):
        raise LocalkubeError(f"package {package} is not in module {module}")
    out = bin_dir() / f"{binary}-{version}"
    if out.is_file():
        return out
    src = build_dir() / f"src-{binary}-{version}"
    src.mkdir(parents=True, exist_ok=True)
    want = go_mod(module, version, binary)
    if not (src / "go.mod").is_file() or (src / "go.mod").read_text() != want:
        atomic_write(src / "go.mod", want)
        (src / "go.sum").unlink(missing_ok=True)
    logf = build_dir() / f"build-{binary}.log"
    log(f"building {binary} {version} (go build {package} in a module of ours); log: {logf}")
    started = time.monotonic()
    partial = out.with_name(out.name + ".partial")
    # -mod=mod (from go_env) lets the build complete go.sum from the required module's graph.
    run([go_bin(), "build", "-trimpath", "-ldflags=-s -w", "-o", str(partial), package],
        what=f"go build {binary}", log_file=logf, env=go_env(), cwd=src, timeout=BUILD_TIMEOUT)
    if not partial.is_file():
        raise LocalkubeError(f"go build produced no {binary}; see {logf}")
    os.replace(partial, out)
    with (build_dir() / "timings.jsonl").open("a") as fh:
        fh.write(json.dumps({"binaries": [binary], "version": version,
                             "total_s": round(time.monotonic() - started, 1),
                             "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}) + "\n")
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    try:
        print(go_build(*argv))
    except LocalkubeError as exc:
        print(f"localkube: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
