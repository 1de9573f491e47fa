"""Parsing of k6 handleSummary JSON (fixtures are real k6 1.1.0 output from k6_run scripts)."""

import copy
import gzip
import json
import os

import pytest

from ansible_collections.dsa.platform.plugins.module_utils.k6.summary import (
    SummaryError,
    latency_over_time,
    load_summary,
    parse_summary,
    percentile,
)

FIXTURES = os.path.join(os.path.dirname(__file__), 'k6_fixtures')


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return json.load(handle)


def test_closed_summary():
    data = fixture('summary_closed.json')
    res = parse_summary(data)
    m = data['metrics']
    assert res['requests'] == m['http_reqs']['values']['count'] == 51
    assert res['rate'] == m['http_reqs']['values']['rate']
    assert res['latency_ms']['p50'] == m['http_req_duration']['values']['med']
    assert res['latency_ms']['p99'] == m['http_req_duration']['values']['p(99)']
    assert res['latency_ms']['max'] == m['http_req_duration']['values']['max']
    # http_req_failed counts failed requests as "passes": none failed here
    assert res['failure_rate'] == 0 and res['failed_requests'] == 0
    assert res['checks']['passed'] == 102 and res['checks']['failed'] == 0
    assert sum(c['passed'] for c in res['checks']['by_name']) == 102
    assert res['dropped_iterations'] == 0
    assert res['vus_max'] == 2
    assert res['data_sent_bytes'] == m['data_sent']['values']['count']
    assert res['thresholds'] == [
        {'metric': 'checks', 'expression': 'rate>0.99', 'ok': True},
        {'metric': 'http_req_duration', 'expression': 'p(95)<500', 'ok': True},
    ]
    assert res['thresholds_ok'] is True
    assert res['seed'] == 7 and res['model'] == 'closed'
    assert res['offered'] is None
    assert res['test_duration_s'] == pytest.approx(3.02, abs=0.01)


def test_open_summary_reports_offered_schedule():
    res = parse_summary(fixture('summary_open.json'))
    assert res['model'] == 'open'
    assert res['offered'] == {'slice_s': 1.0, 'arrivals': 63, 'rates': [18.0, 23.0, 22.0]}
    assert res['requests'] == 63


def test_failed_threshold_and_failures_and_drops():
    data = copy.deepcopy(fixture('summary_closed.json'))
    data['metrics']['http_req_duration']['thresholds']['p(95)<500']['ok'] = False
    data['metrics']['http_req_failed']['values'] = {'rate': 0.25, 'passes': 10, 'fails': 30}
    data['metrics']['dropped_iterations'] = {'type': 'counter', 'values': {'count': 12, 'rate': 4}}
    res = parse_summary(data)
    assert res['thresholds_ok'] is False
    assert {'metric': 'http_req_duration', 'expression': 'p(95)<500', 'ok': False} in res['thresholds']
    assert res['failure_rate'] == 0.25 and res['failed_requests'] == 10
    assert res['dropped_iterations'] == 12


def test_run_without_requests_gives_zeros():
    res = parse_summary({'metrics': {'iterations': {'values': {'count': 0}}}, 'state': {}})
    assert res['requests'] == 0 and res['latency_ms']['p95'] == 0 and res['thresholds_ok'] is True


@pytest.mark.parametrize('bad', [None, [], {'state': {}}, {'metrics': []}])
def test_not_a_summary(bad):
    with pytest.raises(SummaryError):
        parse_summary(bad)


def test_load_summary_reports_invalid_json(tmp_path):
    path = tmp_path / 'summary.json'
    path.write_text('{not json')
    with pytest.raises(SummaryError, match='summary.json is not valid JSON'):
        load_summary(str(path))


def test_percentile_matches_linear_interpolation():
    vals = [1.0, 2.0, 3.0, 4.0]
    assert percentile(vals, 50) == 2.5
    assert percentile(vals, 100) == 4.0
    assert percentile([], 95) == 0.0


def test_latency_over_time_buckets_raw_points(tmp_path):
    lines = []
    for sec, values in ((0, [1.0, 3.0]), (1, [10.0]), (3, [2.0, 2.0, 2.0])):
        for i, v in enumerate(values):
            lines.append(json.dumps({'type': 'Point', 'metric': 'http_req_duration',
                                     'data': {'time': '2026-01-01T00:00:%02d.%06d123+01:00' % (10 + sec, i * 1000), 'value': v}}))
    lines.append(json.dumps({'type': 'Metric', 'metric': 'http_req_duration', 'data': {}}))
    lines.append(json.dumps({'type': 'Point', 'metric': 'http_req_waiting', 'data': {'time': '2026-01-01T00:00:10Z', 'value': 99}}))
    raw = tmp_path / 'raw.json.gz'
    with gzip.open(str(raw), 'wt') as handle:
        handle.write('\n'.join(lines) + '\n')
    rows = latency_over_time(str(raw))
    assert [r['t'] for r in rows] == [0.0, 1.0, 3.0]
    assert [r['count'] for r in rows] == [2, 1, 3]
    assert rows[0]['avg'] == 2.0 and rows[0]['max'] == 3.0
