"""k6_run against a real local server with the real k6 binary (a few seconds per run).

The server counts what it receives; the module's figures must agree with it.
"""

import datetime
import os
import re
import uuid

import pytest

from ansible_collections.dsa.platform.plugins.module_utils.k6.runner import K6RunError, run
from ansible_collections.dsa.platform.plugins.module_utils.k6.summary import latency_over_time

pytestmark = pytest.mark.integration


def spec(server, **over):
    base = {
        'base_url': server.url,
        'duration': '2s',
        'vus': 3,
        'seed': 2024,
        'distribution': {'type': 'uniform', 'min': 0.02, 'max': 0.05},
        'requests': [
            {'name': 'ingest', 'method': 'POST', 'path': '/api/readings', 'weight': 2,
             'body': {'device_id': '${random.int(1, 100)}', 'value': '${random.float(15, 30, 2)}',
                      'kind': "${random.choice(['temperature', 'humidity'])}", 'request_id': '${uuid}',
                      'at': '${now}', 'source': 'vu-${vu}'},
             'expect': {'status': 201, 'json_keys': ['id']}},
            {'name': 'item', 'path': '/api/items/${random.int(1, 5)}', 'expect': {'status': 200, 'json_keys': ['data.id']}},
        ],
    }
    base.update(over)
    return base


def test_closed_model_counts_match_server_and_bodies_follow_template(counting, k6_binary, tmp_path):
    res, failed = run(spec(counting), str(tmp_path), k6_path=k6_binary)
    assert failed is None
    assert res['requests'] > 0
    assert res['requests'] == counting.count()
    assert res['checks']['failed'] == 0 and res['checks']['passed'] == 2 * res['requests']
    assert res['failure_rate'] == 0
    posts = [r for r in counting.requests if r['method'] == 'POST']
    assert posts and counting.count('GET', '/api/items/') == res['requests'] - len(posts)
    for rec in posts:
        body = rec['body']
        assert isinstance(body['device_id'], int) and 1 <= body['device_id'] <= 100
        assert isinstance(body['value'], float) or isinstance(body['value'], int)
        assert 15 <= body['value'] <= 30 and round(body['value'], 2) == body['value']
        assert body['kind'] in ('temperature', 'humidity')
        assert uuid.UUID(body['request_id']).version == 4
        datetime.datetime.strptime(body['at'], '%Y-%m-%dT%H:%M:%S.%fZ')
        assert re.match(r'^vu-[123]$', body['source'])
    ids = [r['path'].rsplit('/', 1)[1] for r in counting.requests if r['method'] == 'GET']
    assert set(ids) <= {'1', '2', '3', '4', '5'}
    for key in ('script_path', 'summary_path', 'result_path', 'log_path'):
        assert os.path.exists(res[key])
    assert res['start_time'] < res['end_time']
    assert res['vus_max'] == 3 and res['data_sent_bytes'] > 0 and res['data_received_bytes'] > 0


def test_same_seed_repeats_the_request_sequence(counting, k6_binary, tmp_path):
    one_vu = {'vus': 1, 'duration': '1s'}
    run(spec(counting, **one_vu), str(tmp_path / 'a'), k6_path=k6_binary)
    first = [r['body']['request_id'] for r in counting.requests if r['method'] == 'POST']
    counting.reset()
    run(spec(counting, **one_vu), str(tmp_path / 'b'), k6_path=k6_binary)
    second = [r['body']['request_id'] for r in counting.requests if r['method'] == 'POST']
    counting.reset()
    run(spec(counting, seed=1, **one_vu), str(tmp_path / 'c'), k6_path=k6_binary)
    other = [r['body']['request_id'] for r in counting.requests if r['method'] == 'POST']
    n = min(len(first), len(second), 5)
    assert n >= 3
    assert first[:n] == second[:n]
    assert first[:n] != other[:n]


def test_open_model_offers_the_drawn_schedule(counting, k6_binary, tmp_path):
    s = spec(counting, model='open', rate=40, vus=5, max_vus=20, duration='3s', distribution={'type': 'poisson'})
    res, _ = run(s, str(tmp_path), k6_path=k6_binary)
    assert res['requests'] == counting.count()
    assert res['dropped_iterations'] == 0 and res['rate_offered_ok'] is True
    assert len(res['offered']['rates']) == 3
    # k6 starts one request per drawn arrival (allow one at each slice boundary)
    assert abs(res['requests'] - res['offered']['arrivals']) <= 3


def test_failing_threshold_is_reported_as_failed(counting, k6_binary, tmp_path):
    s = spec(counting, thresholds={'http_req_duration': ['p(95)<0.001'], 'http_req_failed': ['rate<0.5']})
    res, failed = run(s, str(tmp_path), k6_path=k6_binary)
    assert res['exit_code'] == 99 and res['thresholds_ok'] is False
    by = dict(((t['metric'], t['expression']), t['ok']) for t in res['thresholds'])
    assert by == {('http_req_duration', 'p(95)<0.001'): False, ('http_req_failed', 'rate<0.5'): True}
    assert failed is None
    _, failed = run(s, str(tmp_path), k6_path=k6_binary, fail_on_threshold=True)
    assert failed == 'k6 thresholds failed: http_req_duration p(95)<0.001'


def test_wrong_body_fails_the_check(counting, k6_binary, tmp_path):
    s = spec(counting, requests=[{'name': 'item', 'path': '/wrong', 'expect': {'status': 200, 'json_keys': ['data.id']}}])
    res, _ = run(s, str(tmp_path), k6_path=k6_binary)
    n = counting.count()
    assert res['requests'] == n > 0
    by = dict((c['name'], c) for c in res['checks']['by_name'])
    assert by['item: body matches'] == {'name': 'item: body matches', 'passed': 0, 'failed': n}
    assert by['item: status in [200]']['passed'] == n
    assert res['failure_rate'] == 0  # the status was right: only the body check catches it


def test_redirect_is_not_followed_and_fails(counting, k6_binary, tmp_path):
    s = spec(counting, requests=[{'name': 'r', 'path': '/redirect', 'expect': {'status': 200}}])
    res, _ = run(s, str(tmp_path), k6_path=k6_binary)
    assert res['requests'] == counting.count('GET', '/redirect') > 0
    assert counting.count('GET') == counting.count('GET', '/redirect')  # nobody fetched /
    assert res['checks']['passed'] == 0 and res['failure_rate'] == 1.0


def test_followed_redirect_to_home_still_fails_on_body_check(counting, k6_binary, tmp_path):
    s = spec(counting, follow_redirects=True,
             requests=[{'name': 'r', 'path': '/redirect', 'expect': {'status': 200, 'json_keys': ['data.id']}}])
    res, _ = run(s, str(tmp_path), k6_path=k6_binary)
    assert counting.count('GET', '/redirect') > 0
    assert counting.count('GET') == res['requests']  # k6 counts both hops
    by = dict((c['name'], c) for c in res['checks']['by_name'])
    assert by['r: status in [200]']['failed'] == 0  # 200 from / ...
    assert by['r: body matches']['passed'] == 0  # ... but not the resource


def test_unreachable_target_fails_before_k6_starts(k6_binary, tmp_path):
    with pytest.raises(K6RunError, match=r'^target http://127\.0\.0\.1:1 is unreachable'):
        run({'base_url': 'http://127.0.0.1:1', 'duration': '1s', 'requests': [{'path': '/'}]}, str(tmp_path),
            k6_path=k6_binary, preflight_timeout=1)
    assert not (tmp_path / 'script.js').exists()


def test_raw_output_gives_latency_over_time(counting, k6_binary, tmp_path):
    res, _ = run(spec(counting), str(tmp_path), k6_path=k6_binary, raw_output=True)
    assert res['raw_path'].endswith('raw.json.gz') and os.path.getsize(res['raw_path']) > 0
    points = latency_over_time(res['raw_path'])
    assert sum(p['count'] for p in points) == res['requests'] == counting.count()


def test_check_mode_compiles_with_k6_and_sends_nothing(counting, k6_binary, tmp_path):
    res, _ = run(spec(counting, model='open', rate=10, distribution={'type': 'exponential'}), str(tmp_path / 'o'),
                 k6_path=k6_binary, check_mode=True)
    assert res['validated_with_k6'] is True
    assert res['k6_options']['scenarios']['main']['executor'] == 'ramping-arrival-rate'
    assert counting.count() == 0 and not (tmp_path / 'o').exists()


def test_k6_rejects_unknown_threshold_metric_in_check_mode(k6_binary, tmp_path):
    s = {'base_url': 'http://127.0.0.1:1', 'duration': '1s', 'requests': [{'path': '/'}],
         'thresholds': {'no_such_metric': ['rate<1']}}
    with pytest.raises(K6RunError, match='no metric name'):
        run(s, str(tmp_path), k6_path=k6_binary, check_mode=True)
