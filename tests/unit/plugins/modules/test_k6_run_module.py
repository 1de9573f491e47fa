"""dsa.platform.k6_run as Ansible runs it: AnsibleModule with exit_json/fail_json mocked and the
k6 process replaced by a fake that writes what k6 would (kubernetes.core unit-test style)."""

import json
import os
import shutil

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args
from ansible_module_harness import Exit, Fail, mock_exits

from ansible_collections.dsa.platform.plugins.module_utils.k6 import runner as k6_runner
from ansible_collections.dsa.platform.plugins.module_utils.k6.spec import normalize_spec
from ansible_collections.dsa.platform.plugins.modules import k6_run

FIXTURES = os.path.join(os.path.dirname(__file__), '..', 'module_utils', 'k6_fixtures')


@pytest.fixture(autouse=True)
def mocked_module(monkeypatch):
    mock_exits(monkeypatch)
    monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda self, msg: WARNINGS.append(msg))
    del WARNINGS[:]


WARNINGS = []


@pytest.fixture
def fake_k6(monkeypatch, tmp_path):
    """k6 'binary' found, target reachable; the process writes a summary and exits with rc."""
    calls = []
    state = {'rc': 0, 'mutate': None}
    binary = tmp_path / 'k6'
    binary.write_text('#!/bin/sh\nexit 0\n')
    binary.chmod(0o755)
    monkeypatch.setattr(k6_runner, 'find_k6', lambda explicit=None: str(binary))
    monkeypatch.setattr(k6_runner, 'preflight', lambda url, timeout=3.0: None)
    monkeypatch.setattr(k6_runner, 'validate_with_k6', lambda k6, script, env=None: {'totalDuration': '15s'})

    def fake_process(cmd, log_path, timeout, env=None):
        calls.append({'cmd': cmd, 'timeout': timeout, 'env': env})
        script = open(cmd[-1]).read()
        summary_path = json.loads(script.split('const SUMMARY_PATH = __ENV.DSA_K6_SUMMARY || ')[1].split(';')[0])
        with open(os.path.join(FIXTURES, 'summary_closed.json')) as handle:
            data = json.load(handle)
        if state['mutate']:
            state['mutate'](data)
        with open(summary_path, 'w') as handle:
            json.dump(data, handle)
        with open(log_path, 'w') as handle:
            handle.write('k6 output\n')
        return state['rc']

    monkeypatch.setattr(k6_runner, 'run_process', fake_process)
    state['calls'] = calls
    return state


SPEC = {
    'base_url': 'http://127.0.0.1:8000',
    'duration': '10s',
    'seed': 7,
    'requests': [{'path': '/healthz', 'expect': {'status': 200, 'body_contains': 'ok'}}],
    'thresholds': {'http_req_duration': ['p(95)<500']},
}


def run_module(args):
    with patch_module_args(args):
        k6_run.main()


def test_success_returns_structured_result(fake_k6, tmp_path):
    out = tmp_path / 'out'
    with pytest.raises(Exit) as info:
        run_module({'spec': SPEC, 'output_dir': str(out), 'raw_output': True})
    res = info.value.args[0]
    assert res['changed'] is True
    assert res['requests'] == 51 and res['thresholds_ok'] is True
    assert set(res['latency_ms']) == {'avg', 'min', 'p50', 'p90', 'p95', 'p99', 'max'}
    assert res['script_path'] == str(out / 'script.js') and os.path.exists(res['script_path'])
    assert res['summary_path'] == str(out / 'summary.json')
    assert res['raw_path'] == str(out / 'raw.json.gz')
    cmd = fake_k6['calls'][0]['cmd']
    assert cmd[1:3] == ['run', '--no-usage-report']
    assert '--out' in cmd and cmd[cmd.index('--out') + 1] == 'json=' + str(out / 'raw.json.gz')
    assert fake_k6['calls'][0]['timeout'] == 10 + 2 * 5 + 120
    assert json.load(open(res['result_path']))['requests'] == 51
    assert res['spec']['model'] == 'closed' and res['seed'] == 7


def test_no_raw_output_unless_asked(fake_k6, tmp_path):
    with pytest.raises(Exit):
        run_module({'spec': SPEC, 'output_dir': str(tmp_path / 'o')})
    assert '--out' not in fake_k6['calls'][0]['cmd']


def test_invalid_spec_fails_with_field(fake_k6, tmp_path):
    spec = dict(SPEC, requests=[{'path': '/a'}, {'path': '/b', 'expect': {'status': 42}}])
    with pytest.raises(Fail) as info:
        run_module({'spec': spec, 'output_dir': str(tmp_path)})
    res = info.value.args[0]
    assert res['msg'] == 'invalid spec: spec.requests[1].expect.status: must be an integer 100-599, got 42'
    assert res['field'] == 'spec.requests[1].expect.status'
    assert fake_k6['calls'] == []


def test_argument_spec_rejects_wrong_types_before_running(fake_k6, tmp_path):
    with pytest.raises(Fail) as info:
        run_module({'spec': dict(SPEC, model='sideways'), 'output_dir': str(tmp_path)})
    assert 'model' in info.value.args[0]['msg']
    assert fake_k6['calls'] == []


def test_missing_binary(monkeypatch, tmp_path):
    monkeypatch.setattr(k6_runner, 'find_k6', lambda explicit=None: None)
    with pytest.raises(Fail) as info:
        run_module({'spec': SPEC, 'output_dir': str(tmp_path), 'k6_path': '/nonexistent/k6'})
    assert info.value.args[0]['msg'].startswith('k6 binary not found (looked for /nonexistent/k6')


def test_unreachable_target_fails_with_url(monkeypatch, tmp_path):
    monkeypatch.setattr(k6_runner, 'find_k6', lambda explicit=None: '/bin/true')
    spec = dict(SPEC, base_url='http://127.0.0.1:1')  # nothing listens on port 1
    with pytest.raises(Fail) as info:
        run_module({'spec': spec, 'output_dir': str(tmp_path), 'preflight_timeout': 1})
    assert info.value.args[0]['msg'].startswith('target http://127.0.0.1:1 is unreachable')


def _fail_threshold(data):
    data['metrics']['http_req_duration']['thresholds']['p(95)<500']['ok'] = False


def test_failed_threshold_reported_not_fatal_by_default(fake_k6, tmp_path):
    fake_k6['rc'] = 99
    fake_k6['mutate'] = _fail_threshold
    with pytest.raises(Exit) as info:
        run_module({'spec': SPEC, 'output_dir': str(tmp_path)})
    res = info.value.args[0]
    assert res['thresholds_ok'] is False and res['exit_code'] == 99
    assert {'metric': 'http_req_duration', 'expression': 'p(95)<500', 'ok': False} in res['thresholds']


def test_failed_threshold_fails_task_with_fail_on_threshold(fake_k6, tmp_path):
    fake_k6['rc'] = 99
    fake_k6['mutate'] = _fail_threshold
    with pytest.raises(Fail) as info:
        run_module({'spec': SPEC, 'output_dir': str(tmp_path), 'fail_on_threshold': True})
    res = info.value.args[0]
    assert res['msg'] == 'k6 thresholds failed: http_req_duration p(95)<500'
    assert res['requests'] == 51  # the results still come back


def test_k6_error_exit_fails_with_log_tail(fake_k6, tmp_path):
    fake_k6['rc'] = 107
    with pytest.raises(Fail) as info:
        run_module({'spec': SPEC, 'output_dir': str(tmp_path)})
    assert info.value.args[0]['msg'] == 'k6 exited with 107 (script exception): k6 output'


def test_dropped_iterations_warn(fake_k6, tmp_path):
    fake_k6['mutate'] = lambda d: d['metrics'].update(dropped_iterations={'values': {'count': 5}})
    with pytest.raises(Exit) as info:
        run_module({'spec': SPEC, 'output_dir': str(tmp_path)})
    assert info.value.args[0]['rate_offered_ok'] is False
    assert WARNINGS and 'dropped 5 iterations' in WARNINGS[0]


def test_check_mode_renders_without_running_or_writing(fake_k6, tmp_path):
    out = tmp_path / 'never'
    with pytest.raises(Exit) as info:
        run_module({'spec': SPEC, 'output_dir': str(out), '_ansible_check_mode': True})
    res = info.value.args[0]
    assert res['validated_with_k6'] is True and res['k6_options'] == {'totalDuration': '15s'}
    assert 'export function handleSummary' in res['script']
    assert fake_k6['calls'] == [] and not out.exists()


def test_the_argument_spec_is_the_field_table():
    spec = k6_runner.module_argument_spec()
    assert spec['spec']['options']['vus'] == {'type': 'int', 'default': 10}
    assert spec['spec']['options']['requests']['options']['method'] == {
        'type': 'str', 'default': 'GET', 'choices': ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']}
    assert spec['spec']['options']['requests']['options']['expect']['options']['json_keys'] == {
        'type': 'list', 'elements': 'str', 'no_log': False}
    assert spec['output_dir'] == {'type': 'path', 'required': True}


@pytest.mark.parametrize('extra', [
    {'model': 'open', 'rate': 20, 'distribution': {'type': 'poisson'}},
    {'model': 'open', 'stages': [{'duration': '5s', 'target': 30}], 'duration': None, 'distribution': {'type': 'exponential'}},
    {'model': 'open', 'distribution': {'type': 'uniform', 'min': 5, 'max': 9}},
    {'distribution': {'type': 'normal', 'mean': 0.5, 'stddev': 0.1}},
    {'distribution': {'type': 'exponential', 'lambda': 2}},
    {'stages': [{'duration': '5s', 'target': 4}], 'duration': None},
], ids=['open-poisson', 'open-stages', 'open-uniform', 'closed-normal', 'closed-exponential', 'closed-stages'])
def test_the_module_passes_what_ansible_fills_in_straight_to_the_validator(fake_k6, tmp_path, extra):
    """AnsibleModule gives every unset sub-option as null (distribution.value, expect.json_keys,
    ...). The validator reads null as unset, so the module's result equals validating the sparse
    spec directly: no pruning step, and the defaults are the table's."""
    spec = dict(SPEC, **extra)
    with pytest.raises(Exit) as info:
        run_module({'spec': spec, 'output_dir': str(tmp_path / 'out'), '_ansible_check_mode': True})
    sparse = dict((k, v) for k, v in spec.items() if v is not None)
    expected = normalize_spec(sparse)
    assert info.value.args[0]['spec'] == expected
