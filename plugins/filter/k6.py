# -*- coding: utf-8 -*-
# Copyright: dsa.platform developers
# MIT License (see LICENSE or https://opensource.org/licenses/MIT)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.dsa.platform.plugins.module_utils.k6 import capacity
from ansible_collections.dsa.platform.plugins.module_utils.k6.report import (
    RATIO_METRICS,
    add_ratios,
    row_from_result,
    to_markdown,
)
from ansible_collections.dsa.platform.plugins.module_utils.k6.spec import SpecError, parse_duration


def k6_table(results):
    """List of k6_run results -> list of flat rows."""
    if isinstance(results, dict):
        results = results.get('results', [results])
    if not isinstance(results, (list, tuple)):
        raise AnsibleFilterError('k6_table expects a list of k6_run results, got %s' % type(results).__name__)
    rows = []
    for item in results:
        if not isinstance(item, dict):
            raise AnsibleFilterError('k6_table: every item must be a mapping, got %s' % type(item).__name__)
        if item.get('skipped'):
            continue
        if isinstance(item.get('result'), dict):
            rows.append(row_from_result(item['result'], item.get('configuration'), item.get('scenario')))
        else:
            rows.append(row_from_result(item))
    return rows


def k6_ratio(rows, baseline, metrics=None):
    """Add <metric>_ratio columns: value / baseline configuration's value for the same scenario."""
    if not isinstance(rows, (list, tuple)):
        raise AnsibleFilterError('k6_ratio expects the list of rows from k6_table')
    if baseline not in [r.get('configuration') for r in rows]:
        raise AnsibleFilterError('k6_ratio: baseline configuration %r not in the rows' % (baseline,))
    return add_ratios(list(rows), baseline, metrics or RATIO_METRICS)


def k6_spec_seconds(spec):
    """Planned seconds of a (partial) k6_run spec: its duration, or the sum of its stages."""
    if not isinstance(spec, dict):
        raise AnsibleFilterError('k6_spec_seconds expects a k6_run spec (mapping)')
    try:
        if spec.get('stages'):
            return sum(parse_duration(s.get('duration', 0), 'spec.stages[].duration') for s in spec['stages'])
        return parse_duration(spec.get('duration', 0), 'spec.duration')
    except SpecError as exc:
        raise AnsibleFilterError('k6_spec_seconds: %s' % exc)


def k6_markdown(rows, columns=None):
    """Rows -> Markdown table (string)."""
    return to_markdown(list(rows), columns)


def k6_capacity_step(state, result, rate, p95_ms, max_error_rate):
    """Capacity step-up state after the step at rate req/s (see module_utils/k6/capacity.py)."""
    try:
        return capacity.judge_step(state or capacity.initial_state(), result, rate, p95_ms, max_error_rate)
    except capacity.CapacityError as exc:
        raise AnsibleFilterError('k6_capacity_step: %s' % exc)


def k6_capacity_result(state, steps):
    """Highest sustained rate, the breaking rate and why, from the step-up state."""
    if not isinstance(state, dict):
        raise AnsibleFilterError('k6_capacity_result expects the state from k6_capacity_step')
    return capacity.result(state, steps)


class FilterModule(object):
    def filters(self):
        return {
            'k6_table': k6_table,
            'k6_ratio': k6_ratio,
            'k6_markdown': k6_markdown,
            'k6_spec_seconds': k6_spec_seconds,
            'k6_capacity_step': k6_capacity_step,
            'k6_capacity_result': k6_capacity_result,
        }
