"""End to end: playbooks/benchmark.yml runs the k6 role (existing k6 binary, local connection)
against the local counting server and leaves a report under results/<inventory>/<preset>/<time>/."""

import csv
import glob
import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))


def playbook(tmp_path, server, k6_binary, *extra):
    inv = tmp_path / 'e2einv'
    inv.mkdir(exist_ok=True)
    (inv / 'hosts.yml').write_text(
        'all:\n  vars:\n    dsa_api_url: %s\n    dsa_platform: host\n  children:\n    loadgen:\n      hosts:\n'
        '        localhost:\n          ansible_connection: local\n          ansible_python_interpreter: %s\n'
        % (server.url, sys.executable))
    cmd = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', str(inv),
           os.path.join(ROOT, 'playbooks', 'benchmark.yml'),
           '-e', 'k6_install_method=none', '-e', 'k6_binary_path=%s' % k6_binary,
           '-e', 'benchmark_results_root=%s' % (tmp_path / 'results'),
           '-e', 'k6_remote_results_dir=%s' % (tmp_path / 'remote'),
           '-e', 'k6_progress_interval=1'] + list(extra)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_STDOUT_CALLBACK='default')
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    return proc


def only_dir(pattern):
    found = glob.glob(pattern)
    assert len(found) == 1, found
    return found[0]


def test_smoke_preset_end_to_end(counting, k6_binary, tmp_path):
    proc = playbook(tmp_path, counting, k6_binary, '-e', 'k6_duration_override=2s')
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    out = only_dir(str(tmp_path / 'results' / 'e2einv' / 'smoke' / '*'))
    for scen in ('smoke-closed', 'smoke-open'):
        for name in ('summary.json', 'result.json', 'script.js', 'k6.log'):
            assert os.path.isfile(os.path.join(out, 'host', scen, name)), (scen, name)
    with open(os.path.join(out, 'report.csv')) as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r['scenario'] for r in rows) == ['smoke-closed', 'smoke-open']
    assert all(r['configuration'] == 'host' for r in rows)
    # the report's request counts are the server's: nothing lost between k6, module, fetch and report
    assert sum(int(r['requests']) for r in rows) == counting.count('GET', '/healthz') == counting.count()
    assert all(int(r['checks_failed']) == 0 for r in rows)
    html = open(os.path.join(out, 'report.html')).read()
    assert html.count('data:image/png;base64,') == 3
    assert os.path.isfile(os.path.join(out, 'report.md'))
    assert 'FAILED - RETRYING: [localhost]: Wait for k6, polling for progress | smoke-closed' in proc.stdout  # progress


def test_capacity_preset_stops_at_the_first_broken_step(counting, k6_binary, tmp_path):
    # /limited serves 30 requests per second: 20 req/s holds, 40 req/s gets ~25% 503s and breaks
    # the error limit, so 60 req/s is never tried and 20 is the highest sustained rate.
    requests = json.dumps([{'name': 'limited', 'path': '/limited', 'expect': {'status': 200}}])
    proc = playbook(tmp_path, counting, k6_binary, '-e', 'k6_preset=capacity',
                    '-e', 'k6_capacity_start_rate=20', '-e', 'k6_capacity_step=20', '-e', 'k6_capacity_max_rate=60',
                    '-e', 'k6_capacity_step_duration=2s', '-e', 'k6_capacity_p95_ms=1000',
                    '-e', '{"k6_requests": %s}' % requests)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    out = only_dir(str(tmp_path / 'results' / 'e2einv' / 'capacity' / '*'))
    result = json.load(open(os.path.join(out, 'host', 'capacity.json')))
    assert int(result['sustained_rate']) == 20 and int(result['broken_at']) == 40
    assert result['reason'].startswith('failure rate ') and result['reason'].endswith('> 0.01 at 40 req/s')
    assert sorted(os.listdir(os.path.join(out, 'host'))) == ['capacity-000020rps', 'capacity-000040rps', 'capacity.json']
    assert counting.count('GET', '/limited') == counting.count()
    with open(os.path.join(out, 'report.csv')) as handle:
        rows = dict((r['scenario'], r) for r in csv.DictReader(handle))
    assert float(rows['capacity-000020rps']['failure_rate']) == 0
    assert float(rows['capacity-000040rps']['failure_rate']) > 0.01
