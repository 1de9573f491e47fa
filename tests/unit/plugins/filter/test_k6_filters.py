"""The k6_table, k6_ratio and k6_markdown filters."""

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.dsa.platform.plugins.filter.k6 import FilterModule, k6_markdown, k6_ratio, k6_table


def result(p95, rate, configuration=None, name='smoke'):
    return {'requests': 10, 'rate': rate, 'latency_ms': {'p95': p95, 'p50': 1.0}, 'failure_rate': 0.0,
            'checks': {'passed': 10, 'failed': 0}, 'thresholds_ok': True,
            'spec': {'name': name, 'tags': {'configuration': configuration} if configuration else {}}}


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {'k6_table', 'k6_ratio', 'k6_markdown', 'k6_spec_seconds',
                                              'k6_capacity_step', 'k6_capacity_result'}


def test_table_from_registered_loop_uses_tags_and_spec_name():
    loop = {'results': [result(2.0, 100, 'host'), result(3.0, 90, 'microk8s'), {'skipped': True}]}
    rows = k6_table(loop)
    assert [(r['configuration'], r['scenario'], r['p95_ms'], r['rate']) for r in rows] == [
        ('host', 'smoke', 2.0, 100), ('microk8s', 'smoke', 3.0, 90)]


def test_table_from_explicit_items():
    rows = k6_table([{'configuration': 'a', 'scenario': 's1', 'result': result(1.0, 5)}])
    assert rows[0]['configuration'] == 'a' and rows[0]['scenario'] == 's1' and rows[0]['checks_failed'] == 0


def test_ratio():
    rows = k6_table([{'configuration': 'a', 'scenario': 's', 'result': result(2.0, 100)},
                     {'configuration': 'b', 'scenario': 's', 'result': result(5.0, 50)}])
    out = k6_ratio(rows, 'a', ['p95_ms', 'rate'])
    assert out[1]['p95_ms_ratio'] == 2.5 and out[1]['rate_ratio'] == 0.5
    assert 'p99_ms_ratio' not in out[1]
    with pytest.raises(AnsibleFilterError, match='baseline'):
        k6_ratio(rows, 'c')


def test_bad_input():
    with pytest.raises(AnsibleFilterError):
        k6_table('nope')
    with pytest.raises(AnsibleFilterError):
        k6_table(['nope'])


def test_markdown():
    text = k6_markdown(k6_table([{'configuration': 'a', 'scenario': 's', 'result': result(2.0, 100)}]))
    assert text.splitlines()[0].startswith('| configuration | scenario |')
    assert '| a | s | 10 | 100 |' in text


def test_spec_seconds():
    from ansible_collections.dsa.platform.plugins.filter.k6 import k6_spec_seconds
    assert k6_spec_seconds({'duration': '5m'}) == 300
    assert k6_spec_seconds({'stages': [{'duration': '30s', 'target': 1}, {'duration': '1m', 'target': 0}]}) == 90
    with pytest.raises(AnsibleFilterError, match='spec.duration'):
        k6_spec_seconds({'duration': 'forever'})
