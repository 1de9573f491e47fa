"""Where the pinned upstream CRDs are (../shared/crds beside the project, read in place).

A fresh clone may live anywhere (CI clones it elsewhere), so besides the project's own parent this
looks beside the checkout it was cloned from and in the ancestors; DSA_SHARED_CRDS overrides all.
"""
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MARKER = "SHA256SUMS"  # the folder's checksum list: a folder without it is not the pinned one


def _origin_checkout():
    proc = subprocess.run(["git", "-C", str(ROOT), "remote", "get-url", "origin"],
                          capture_output=True, text=True, check=False)
    url = proc.stdout.strip()
    if proc.returncode != 0 or not url or "://" in url or url.startswith("git@"):
        return None
    return Path(url[len("file://"):] if url.startswith("file://") else url)


def shared_crds_dir() -> Path:
    """The CRD folder; the first candidate (../shared/crds) when none exists, for the error message."""
    if os.environ.get("DSA_SHARED_CRDS"):
        return Path(os.environ["DSA_SHARED_CRDS"])
    candidates = [parent / "shared" / "crds" for parent in ROOT.parents]
    origin = _origin_checkout()
    if origin is not None:
        candidates += [parent / "shared" / "crds" for parent in origin.resolve().parents]
    # Last: where this machine kind keeps the shared notes (a clone from a remote URL has no local origin).
    candidates.append(Path("/work/shared/crds"))
    for candidate in candidates:
        if (candidate / MARKER).is_file():
            return candidate
    return candidates[0]


SHARED_CRDS = shared_crds_dir()
