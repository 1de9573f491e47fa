"""The capacity preset's verdicts (plugins/module_utils/k6/capacity.py and its filters)."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.dsa.platform.plugins.filter.k6 import k6_capacity_result, k6_capacity_step
from ansible_collections.dsa.platform.plugins.module_utils.k6 import capacity


def run(p95=10.0, failure_rate=0.0, dropped=0):
    return {'latency_ms': {'p95': p95}, 'failure_rate': failure_rate, 'dropped_iterations': dropped}


def test_a_step_within_every_limit_is_sustained():
    assert capacity.step_reason(run(p95=500.0, failure_rate=0.01), 100, 500, 0.01) == ''


@pytest.mark.parametrize('result, reason', [
    (run(p95=612.34), 'p95 612.3 ms > 500 ms at 300 req/s'),
    (run(failure_rate=0.0421), 'failure rate 0.042 > 0.01 at 300 req/s'),
    (run(dropped=17), 'k6 dropped 17 arrivals at 300 req/s (load generator limit: raise k6_capacity_max_vus)'),
    # latency is reported first when several limits break
    (run(p95=900, failure_rate=0.5, dropped=3), 'p95 900.0 ms > 500 ms at 300 req/s'),
])
def test_the_reason_names_the_limit_that_broke(result, reason):
    assert capacity.step_reason(result, 300, 500, 0.01) == reason


def test_limits_given_as_strings_appear_as_written():
    # extra vars (-e k6_capacity_p95_ms=1000) arrive as strings
    assert capacity.step_reason(run(p95=1500), '40', '1000', '0.01') == 'p95 1500.0 ms > 1000 ms at 40 req/s'


def test_the_step_up_stops_at_the_first_broken_step():
    state = {}
    for rate, result in ((20, run()), (40, run(failure_rate=0.25))):
        state = k6_capacity_step(state, result, rate, 1000, 0.01)
    assert state == {'sustained': [20], 'broken': True, 'broken_at': 40,
                     'reason': 'failure rate 0.250 > 0.01 at 40 req/s'}
    assert k6_capacity_result(state, 3) == {'sustained_rate': 20, 'broken_at': 40,
                                            'reason': 'failure rate 0.250 > 0.01 at 40 req/s', 'steps': 3}
    with pytest.raises(AnsibleFilterError, match='already stopped at 40 req/s'):
        k6_capacity_step(state, run(), 60, 1000, 0.01)


def test_no_break_up_to_the_last_rate():
    state = {}
    for rate in (100, 200):
        state = k6_capacity_step(state, run(), rate, 500, 0.01)
    assert k6_capacity_result(state, 2) == {'sustained_rate': 200, 'broken_at': None,
                                            'reason': 'no step broke a limit up to k6_capacity_max_rate', 'steps': 2}


def test_a_first_step_that_breaks_sustains_nothing():
    state = k6_capacity_step({}, run(dropped=1), 100, 500, 0.01)
    assert k6_capacity_result(state, 5)['sustained_rate'] == 0


def test_the_state_given_is_not_changed():
    state = k6_capacity_step({}, run(), 100, 500, 0.01)
    k6_capacity_step(state, run(), 200, 500, 0.01)
    assert state['sustained'] == [100]


@pytest.mark.parametrize('result, limit, message', [
    ({'failure_rate': 0, 'dropped_iterations': 0}, 500, "k6 result: missing 'latency_ms'"),
    (run(p95='fast'), 500, "k6 result latency_ms.p95: must be a number, got 'fast'"),
    (run(), 'high', "k6_capacity_p95_ms: must be a number, got 'high'"),
    ('not a result', 500, 'k6 result: must be the mapping k6_run returns, got str'),
])
def test_bad_input_is_named(result, limit, message):
    with pytest.raises(AnsibleFilterError, match='^k6_capacity_step: ' + message.replace('(', r'\(')):
        k6_capacity_step({}, result, 100, limit, 0.01)
