"""The only module that talks to PostgreSQL: a small blocking connection pool and helpers.

The pool is created lazily in each process (gunicorn forks workers), waits up to
``pool_timeout`` for a free connection (psycopg2.pool raises at once instead, which is wrong for
threads/greenlets), and throws away every idle connection when one turns out broken, so the
service recovers by itself when PostgreSQL comes back after an outage.
"""
import hashlib
import io
import os
import re
import threading
from contextlib import contextmanager

import psycopg2
import psycopg2.extensions
from flask import current_app

from . import metrics

DB_ERRORS = (psycopg2.OperationalError, psycopg2.InterfaceError)


class Connection(psycopg2.extensions.connection):
    """A connection that remembers which server-side prepared statements it holds."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.prepared: set[str] = set()


class PoolTimeout(psycopg2.OperationalError):
    """No connection became free within pool_timeout (treated like an outage: 503)."""


class Pool:
    def __init__(self, dsn: str, maxconn: int, timeout: float, options: str = "",
                 connect_timeout: int = 3):
        self.dsn = dsn
        self.maxconn = maxconn
        self.timeout = timeout
        self.options = options
        self.connect_timeout = connect_timeout
        self._idle: list = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(maxconn)
        self.in_use = 0
        self.pid = os.getpid()
        metrics.POOL_MAX.set(maxconn)

    def _connect(self):
        conn = psycopg2.connect(self.dsn, options=self.options,
                                connect_timeout=self.connect_timeout,
                                application_name="iot_api", connection_factory=Connection)
        # Reads run in autocommit (one round trip each); writes open a transaction explicitly.
        conn.autocommit = True
        return conn

    def getconn(self):
        if not self._slots.acquire(timeout=self.timeout):
            raise PoolTimeout("no free database connection")
        try:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None or conn.closed:
                conn = self._connect()
        except BaseException:
            self._slots.release()
            raise
        with self._lock:
            self.in_use += 1
            self._report()
        return conn

    def putconn(self, conn, broken: bool = False):
        try:
            if not broken and not conn.closed:
                if conn.get_transaction_status() != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
                    conn.rollback()
                conn.autocommit = True
            else:
                broken = True
        except DB_ERRORS:
            broken = True
        if broken:
            _close(conn)
        with self._lock:
            if broken:
                # One broken connection usually means the server restarted: drop them all.
                stale, self._idle = self._idle, []
            else:
                stale = []
                self._idle.append(conn)
            self.in_use -= 1
            self._report()
        for c in stale:
            _close(c)
        self._slots.release()

    def _report(self):
        metrics.POOL_IN_USE.set(self.in_use)
        metrics.POOL_IDLE.set(len(self._idle))

    def closeall(self):
        with self._lock:
            idle, self._idle = self._idle, []
        for c in idle:
            _close(c)


def _close(conn):
    try:
        conn.close()
    except Exception:  # noqa: BLE001 - closing a dead socket may fail; nothing to do
        pass


_pools: dict[int, Pool] = {}
_pools_lock = threading.Lock()


def get_pool(app=None) -> Pool:
    app = app or current_app._get_current_object()
    pool = app.extensions.get("iot_api_pool")
    if pool is None or pool.pid != os.getpid():
        with _pools_lock:
            pool = app.extensions.get("iot_api_pool")
            if pool is None or pool.pid != os.getpid():
                s = app.config["SETTINGS"]
                options = f"-c timezone=UTC -c statement_timeout={int(s.statement_timeout_ms)}"
                pool = Pool(s.dsn(), s.pool_size, s.pool_timeout, options, s.connect_timeout)
                app.extensions["iot_api_pool"] = pool
    return pool


@contextmanager
def connection():
    """A pooled connection; the caller commits. Rolled back and returned on exit."""
    pool = get_pool()
    conn = pool.getconn()
    try:
        yield conn
    except BaseException as exc:
        pool.putconn(conn, broken=conn.closed or isinstance(exc, DB_ERRORS))
        raise
    else:
        pool.putconn(conn)


@contextmanager
def transaction(conn=None):
    """A cursor inside one transaction, committed when the block ends without error."""
    if conn is None:
        with connection() as c, transaction(c) as cur:
            yield cur
        return
    conn.autocommit = False
    try:
        with conn.cursor() as cur:
            yield cur
        conn.commit()
    except BaseException:
        if not conn.closed:
            try:
                conn.rollback()
            except DB_ERRORS:
                pass
        raise
    finally:
        if not conn.closed:
            conn.autocommit = True


def fetch_one(sql: str, params=None):
    with connection() as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()


def fetch_all(sql: str, params=None):
    with connection() as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


_PLACEHOLDER = re.compile(r"%s")
_statements: dict[str, tuple[str, str]] = {}


def _statement(sql: str, nparams: int) -> tuple[str, str]:
    """(name, PREPARE text) for ``sql``, derived once per process."""
    known = _statements.get(sql)
    if known is None:
        name = "iot_" + hashlib.sha1(sql.encode()).hexdigest()[:16]
        counter = iter(range(1, nparams + 1))
        text = f"PREPARE {name} AS " + _PLACEHOLDER.sub(lambda m: f"${next(counter)}", sql)
        known = _statements[sql] = (name, text)
    return known


def _prepared(cur, sql: str, params) -> None:
    """Run ``sql`` (with %s placeholders) as a server-side prepared statement: the hot queries
    are parsed and planned once per connection instead of once per request."""
    conn = cur.connection
    name, prepare = _statement(sql, len(params))
    if name not in conn.prepared:
        cur.execute(prepare)
        conn.prepared.add(name)
    if params:
        cur.execute(f"EXECUTE {name} (" + ", ".join(["%s"] * len(params)) + ")", params)
    else:
        cur.execute(f"EXECUTE {name}")


def fetch_one_prepared(sql: str, params):
    with connection() as conn, conn.cursor() as cur:
        _prepared(cur, sql, params)
        return cur.fetchone()


def execute_prepared(sql: str, params) -> int:
    with connection() as conn, conn.cursor() as cur:
        _prepared(cur, sql, params)
        return cur.rowcount


def copy_in(cur, sql: str, text: str) -> None:
    """``COPY ... FROM STDIN`` of ``text``. psycopg2 refuses COPY while a cooperative wait
    callback is installed (gevent workers, psycogreen); the callback is lifted for the COPY alone,
    which then blocks this worker's event loop for its few milliseconds as a sync worker would.
    No other greenlet can run in between, so none of them sees the callback missing."""
    callback = psycopg2.extensions.get_wait_callback()
    if callback is None:
        cur.copy_expert(sql, io.StringIO(text))
        return
    psycopg2.extensions.set_wait_callback(None)
    try:
        cur.copy_expert(sql, io.StringIO(text))
    finally:
        psycopg2.extensions.set_wait_callback(callback)


def execute(sql: str, params=None) -> int:
    """One autocommitted statement; returns the row count."""
    with connection() as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.rowcount
