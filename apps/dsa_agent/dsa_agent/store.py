"""Analyses as JSON files in the state directory. Every write goes to a temp file in the same
directory, is fsynced and renamed over the target, so a reader never sees half a document."""
import json
import os
import re
import tempfile

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def atomic_write(path: str, text: str, mode: int = 0o640) -> None:
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class Store:
    def __init__(self, state_dir: str):
        self.dir = os.path.join(state_dir, "analyses")
        self.patch_dir = os.path.join(state_dir, "patches")

    def _path(self, analysis_id: str) -> str:
        if not _ID.match(analysis_id):
            raise KeyError(analysis_id)
        return os.path.join(self.dir, analysis_id + ".json")

    def save(self, doc: dict) -> None:
        atomic_write(self._path(doc["id"]), json.dumps(doc, indent=1, default=str))

    def load(self, analysis_id: str) -> dict:
        try:
            with open(self._path(analysis_id), encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            raise KeyError(analysis_id) from None

    def list(self) -> list[dict]:
        out = []
        if not os.path.isdir(self.dir):
            return out
        for name in sorted(os.listdir(self.dir)):
            if name.endswith(".json") and not name.startswith("."):
                try:
                    with open(os.path.join(self.dir, name), encoding="utf-8") as f:
                        doc = json.load(f)
                except (OSError, ValueError):
                    continue
                out.append(doc)
        # newest first; created_ns orders analyses started within the same second
        out.sort(key=lambda d: (d.get("created", ""), d.get("created_ns", 0)), reverse=True)
        return out

    def writable(self) -> bool:
        try:
            os.makedirs(self.dir, exist_ok=True)
            return os.access(self.dir, os.W_OK)
        except OSError:
            return False
