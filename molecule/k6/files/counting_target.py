"""HTTP target for the k6 molecule scenario: answers the smoke preset and logs every request.

  GET /healthz  200 {"status": "ok"} (application/json)
  anything else 404 {"error": "no route"}

Each request is appended to the log as "<epoch seconds> <method> <path> <status>", so verify can
count what reached the server within each k6 run's start and end time.
Usage: counting_target.py <address> <port> <log file>
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class CountingServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, log_path):
        super().__init__(address, Handler)
        self.lock = threading.Lock()
        self.log = open(log_path, 'a', buffering=1, encoding='utf-8')

    def record(self, method, path, status):
        with self.lock:
            self.log.write('%.6f %s %s %d\n' % (time.time(), method, path, status))


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    disable_nagle_algorithm = True

    def _reply(self, status, body):
        data = json.dumps(body).encode()
        head = 'HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n' % (status, len(data))
        self.wfile.write(head.encode() + data)  # one write: no Nagle stalls

    def do_GET(self):
        status = 200 if self.path == '/healthz' else 404
        self.server.record('GET', self.path, status)
        self._reply(status, {'status': 'ok'} if status == 200 else {'error': 'no route'})

    def log_message(self, *args):
        pass


def main():
    address, port, log_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    CountingServer((address, port), log_path).serve_forever()


if __name__ == '__main__':
    main()
