"""Test support shared by the services' test suites (standard library only, not in the wheel):
wait for a server process that a test started to answer. On the path through pytest.ini."""
import time
import urllib.request


def wait_until(ready, proc, log_path, what: str, timeout: float, interval: float = 0.2) -> None:
    """Call ``ready()`` until it returns true. An OSError from it counts as not yet; the test
    fails with the server's log when the process exits first, with ``what`` (what did not
    happen) on a time-out."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if ready():
                return
        except OSError:
            pass
        assert proc.poll() is None, open(log_path, encoding="utf-8", errors="replace").read()
        assert time.monotonic() < deadline, f"{what} (waited {timeout:.0f} s)"
        time.sleep(interval)


def http_ok(url: str, body: bytes | None = None, timeout: float = 2):
    """A ``ready`` probe: GET ``url`` answers 200 (and ``body``, when given)."""
    def probe() -> bool:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status == 200 and (body is None or r.read() == body)
    return probe
