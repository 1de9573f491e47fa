"""A private, throwaway PostgreSQL server for the tests and the benchmark (never a system service).

Test-only: it lives outside the ``iot_api`` package so that it is not in the wheel the hosts
install. Imported as ``iot_api_pgserver`` (a unique name: pytest puts this directory on sys.path;
bench/run.py adds it).

Finds the distribution's binaries (``pg_config --bindir``, /usr/lib/postgresql/*/bin), runs
``initdb`` as the ``postgres`` system user when started as root, listens on 127.0.0.1 on a free
port with its socket in the data directory's parent, and is stopped and removed by ``cleanup()``.
"""
import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile


class PostgresUnavailable(RuntimeError):
    pass


def find_bindir() -> str:
    candidates = []
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
        candidates.append(out.stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        pass
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for d in candidates:
        if os.path.exists(os.path.join(d, "initdb")) and os.path.exists(os.path.join(d, "pg_ctl")):
            return d
    raise PostgresUnavailable(
        "PostgreSQL server binaries not found (looked at `pg_config --bindir` and "
        "/usr/lib/postgresql/*/bin). Install them: apt-get install postgresql")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    def __init__(self, extra_conf: dict | None = None):
        self.bindir = find_bindir()
        self.base = tempfile.mkdtemp(prefix="iot-api-pg-")
        self.datadir = os.path.join(self.base, "data")
        self.port = free_port()
        self.password = secrets.token_urlsafe(16)
        self.user = "iot"
        self.dbname = "iot"
        self.extra_conf = extra_conf or {}
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.base, "postgres", "postgres")
            os.chmod(self.base, 0o700)

    def _run(self, args, **kw):
        cmd = [os.path.join(self.bindir, args[0]), *args[1:]]
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)

    @property
    def dsn(self) -> str:
        return (f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.dbname}")

    def init(self):
        pwfile = os.path.join(self.base, "pw")
        with open(pwfile, "w") as f:
            f.write(self.password)
        if self._as_postgres:
            shutil.chown(pwfile, "postgres", "postgres")
        self._run(["initdb", "-D", self.datadir, "-U", self.user, "--pwfile", pwfile,
                   "-A", "scram-sha-256", "-E", "UTF8", "--no-sync", "--locale=C.UTF-8"])
        os.unlink(pwfile)
        conf = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
                "max_connections": "200", "shared_buffers": "128MB", **self.extra_conf}
        with open(os.path.join(self.datadir, "postgresql.auto.conf"), "a") as f:
            for k, v in conf.items():
                f.write(f"{k} = '{v}'\n")
        return self

    def start(self):
        opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.base}"
        self._run(["pg_ctl", "-w", "-t", "30", "-D", self.datadir, "-o", opts,
                   "-l", os.path.join(self.base, "log"), "start"])
        return self

    def stop(self, mode: str = "fast"):
        try:
            self._run(["pg_ctl", "-w", "-D", self.datadir, "-m", mode, "stop"])
        except subprocess.CalledProcessError:
            pass

    def create_database(self):
        import psycopg2
        conn = psycopg2.connect(f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.dbname,))
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{self.dbname}"')
        conn.close()
        return self

    def cleanup(self):
        self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)
