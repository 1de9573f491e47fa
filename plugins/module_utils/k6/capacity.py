# -*- coding: utf-8 -*-
# Copyright: dsa.platform developers
# MIT License (see LICENSE or https://opensource.org/licenses/MIT)
"""The capacity preset's verdicts: is an open-model step sustained, and where does the step-up stop.

A step is sustained unless its p95 latency is over the limit, its failure rate is over the limit,
or k6 dropped arrivals (the load generator could not offer the rate). The first step that is not
sustained stops the step-up; later steps are not run. The state is a plain mapping so the role can
carry it between included task files (``initial_state`` -> ``judge_step`` per rate -> ``result``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

NO_BREAK_REASON = 'no step broke a limit up to k6_capacity_max_rate'


class CapacityError(ValueError):
    """A k6_run result or a limit the verdict cannot read; the message names it."""


def initial_state():
    return {'sustained': [], 'broken': False, 'broken_at': None, 'reason': ''}


def _number(value, name):
    if isinstance(value, bool):
        raise CapacityError('%s: must be a number, got %r' % (name, value))
    try:
        return float(value)
    except (TypeError, ValueError):
        raise CapacityError('%s: must be a number, got %r' % (name, value))


def step_reason(result, rate, p95_limit_ms, max_error_rate):
    """Why the step at ``rate`` req/s is not sustained, or '' when it is.

    ``result`` is what dsa.platform.k6_run returned for the step. The limits appear in the reason
    as the user wrote them (k6_capacity_p95_ms, k6_capacity_max_error_rate).
    """
    if not isinstance(result, dict):
        raise CapacityError('k6 result: must be the mapping k6_run returns, got %s' % type(result).__name__)
    try:
        p95 = _number(result['latency_ms']['p95'], 'k6 result latency_ms.p95')
        failure_rate = _number(result['failure_rate'], 'k6 result failure_rate')
        dropped = int(_number(result['dropped_iterations'], 'k6 result dropped_iterations'))
    except (KeyError, TypeError) as exc:
        raise CapacityError('k6 result: missing %s' % exc)
    rate = int(_number(rate, 'rate'))
    if p95 > _number(p95_limit_ms, 'k6_capacity_p95_ms'):
        return 'p95 %.1f ms > %s ms at %d req/s' % (p95, p95_limit_ms, rate)
    if failure_rate > _number(max_error_rate, 'k6_capacity_max_error_rate'):
        return 'failure rate %.3f > %s at %d req/s' % (failure_rate, max_error_rate, rate)
    if dropped > 0:
        return ('k6 dropped %d arrivals at %d req/s (load generator limit: raise k6_capacity_max_vus)'
                % (dropped, rate))
    return ''


def judge_step(state, result, rate, p95_limit_ms, max_error_rate):
    """The state after the step at ``rate``: the rate joins ``sustained``, or the step-up stops."""
    if state.get('broken'):
        raise CapacityError('the step-up already stopped at %s req/s; no later step runs' % state.get('broken_at'))
    reason = step_reason(result, rate, p95_limit_ms, max_error_rate)
    new = dict(state, sustained=list(state.get('sustained', [])))
    if reason:
        new.update(broken=True, broken_at=int(_number(rate, 'rate')), reason=reason)
    else:
        new['sustained'].append(int(_number(rate, 'rate')))
    return new


def result(state, steps):
    """What the role records in capacity.json: the highest sustained rate and where it broke."""
    return {
        'sustained_rate': max(state.get('sustained') or [0]),
        'broken_at': state.get('broken_at'),
        'reason': state.get('reason') or NO_BREAK_REASON,
        'steps': int(steps),
    }
