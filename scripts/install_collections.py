#!/usr/bin/env python3
"""Install the collections this project needs without Galaxy.

The `ansible` package on PyPI bundles the collections we depend on. We download that one
wheel (pinned) and unpack only the collections listed below into a collections path. With
--project it also links a checkout in as `dsa.platform`, so ansible-playbook, ansible-lint and
molecule find the roles and plugins by their fully qualified names; without it, it only provides
the dependencies, for an offline `ansible-galaxy collection install --offline` of the built
tarball (see README). Re-running is a no-op once the stamp matches.
"""
import argparse
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ANSIBLE_WHEEL = "ansible==12.3.0"
COLLECTIONS = (
    "kubernetes/core",
    "community/general",
    "community/library_inventory_filtering_v1",  # community.general's inventory plugins need it
    "ansible/posix",
    "containers/podman",
    "community/postgresql",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", required=True, type=Path, help="collections path to fill")
    parser.add_argument("--project", type=Path, help="checkout to link in as dsa.platform (optional)")
    args = parser.parse_args()

    root = args.dest / "ansible_collections"
    stamp = args.dest / ".installed"
    wanted = f"{ANSIBLE_WHEEL} {' '.join(COLLECTIONS)}"
    if not (stamp.exists() and stamp.read_text() == wanted):
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", tmp, ANSIBLE_WHEEL],
                check=True,
            )
            wheel = next(Path(tmp).glob("ansible-*.whl"))
            with zipfile.ZipFile(wheel) as archive:
                for name in COLLECTIONS:
                    target = root / name
                    if target.exists():
                        shutil.rmtree(target)
                    prefix = f"ansible_collections/{name}/"
                    members = [m for m in archive.namelist() if m.startswith(prefix)]
                    if not members:
                        print(f"{name} is not in {wheel.name}", file=sys.stderr)
                        return 1
                    archive.extractall(args.dest, members)
        stamp.write_text(wanted)

    if args.project is None:
        return 0
    link = root / "dsa" / "platform"
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        if link.resolve() == args.project.resolve():
            return 0
        link.unlink()
    link.symlink_to(args.project.resolve(), target_is_directory=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
