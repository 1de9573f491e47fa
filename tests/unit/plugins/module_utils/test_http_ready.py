"""http_ready: wait for real HTTP endpoints on 127.0.0.1 within one deadline, and say what failed."""
import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ansible_collections.dsa.platform.plugins.module_utils.http.ready import wait_ready

TOP = Path(__file__).parents[4]


class _WarmingUp(BaseHTTPRequestHandler):
    """503 for the first `warmup` requests, then 200: a service that is starting."""
    warmup = 3
    seen = 0

    def do_GET(self):  # noqa: N802 (http.server's naming)
        type(self).seen += 1
        self.send_response(200 if type(self).seen > type(self).warmup else 503)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    _WarmingUp.seen = 0
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _WarmingUp)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/readyz"
    httpd.shutdown()


def _closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_waits_until_a_starting_service_answers_200(server):
    ready, report = wait_ready([server], timeout=10, interval=0.05)
    assert ready
    assert report[server] == {"ready": True, "attempts": 4, "last": "HTTP 200"}


def test_gives_up_at_the_deadline_and_names_what_it_saw(server):
    down = f"http://127.0.0.1:{_closed_port()}/readyz"
    start = time.monotonic()
    ready, report = wait_ready([server, down], timeout=1.0, interval=0.1)
    assert not ready and time.monotonic() - start < 3
    assert report[server]["ready"] is True
    assert report[down]["ready"] is False and "refused" in report[down]["last"].lower()
    assert report[down]["attempts"] >= 2


def test_a_wrong_status_is_not_ready(server):
    _WarmingUp.warmup = 10**6
    try:
        ready, report = wait_ready([server], status=200, timeout=0.5, interval=0.1)
    finally:
        _WarmingUp.warmup = 3
    assert not ready and report[server]["last"] == "HTTP 503"


def test_the_module_fails_with_the_url_and_the_last_error(tmp_path):
    """The real module, run by ansible-playbook on localhost."""
    down = f"http://127.0.0.1:{_closed_port()}/readyz"
    playbook = tmp_path / "wait.yml"
    playbook.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"dsa.platform.http_ready": {"urls": [down], "timeout": 1, "interval": 0.2}}]}]))
    env = dict(os.environ, ANSIBLE_CONFIG=str(TOP / "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=str(TOP / ".cache" / "collections"), ANSIBLE_STDOUT_CALLBACK="json")
    out = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
         "-e", f"ansible_python_interpreter={sys.executable}", str(playbook)],
        capture_output=True, text=True, env=env, timeout=120, check=False)
    assert out.returncode != 0
    result = json.loads(out.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert result["failed"] and result["ready"] is False
    assert result["msg"].startswith("not ready after 1 s: " + down) and "refused" in result["msg"].lower()
