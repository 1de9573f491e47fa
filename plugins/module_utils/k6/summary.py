# -*- coding: utf-8 -*-
# Copyright: dsa.platform developers
# MIT License (see LICENSE or https://opensource.org/licenses/MIT)
"""Turn the JSON that k6's ``handleSummary(data)`` receives into the flat result k6_run returns.

Works on any k6 1.x handleSummary data; the ``dsa`` block that k6_run's scripts add (seed, model,
open-model schedule) is used when present.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gzip
import io
import json

LATENCY_KEYS = (('avg', 'avg'), ('min', 'min'), ('p50', 'med'), ('p90', 'p(90)'), ('p95', 'p(95)'),
                ('p99', 'p(99)'), ('max', 'max'))


class SummaryError(ValueError):
    pass


def _values(metrics, name):
    metric = metrics.get(name) or {}
    return metric.get('values') or {}


def _num(value, default=0):
    return default if value is None else value


def _checks(root_group):
    """Flatten the per-check pass/fail counts of the root group and its sub-groups."""
    out = []

    def walk(group):
        for chk in (group.get('checks') or []):
            out.append({'name': chk.get('name'), 'passed': chk.get('passes', 0), 'failed': chk.get('fails', 0)})
        for sub in (group.get('groups') or []):
            walk(sub)

    walk(root_group or {})
    return out


def parse_summary(data):
    """Return the structured result for one k6 handleSummary JSON document (a dict)."""
    if not isinstance(data, dict) or not isinstance(data.get('metrics'), dict):
        raise SummaryError('not a k6 handleSummary document (no "metrics" mapping)')
    metrics = data['metrics']
    reqs = _values(metrics, 'http_reqs')
    duration = _values(metrics, 'http_req_duration')
    failed = _values(metrics, 'http_req_failed')
    checks = _values(metrics, 'checks')
    thresholds = []
    for metric in sorted(metrics):
        for expr, res in sorted((metrics[metric].get('thresholds') or {}).items()):
            thresholds.append({'metric': metric, 'expression': expr, 'ok': bool(res.get('ok'))})
    dsa = data.get('dsa') or {}
    schedule = dsa.get('schedule')
    offered = None
    if schedule:
        slice_s = float(schedule.get('slice') or 1.0)
        counts = schedule.get('counts') or []
        # Offered arrivals: every slice but the last lasts `slice` seconds; the sum is close enough.
        offered = {
            'slice_s': slice_s,
            'arrivals': int(sum(counts)),
            'rates': [c / slice_s for c in counts],
        }
    state = data.get('state') or {}
    check_list = _checks(data.get('root_group'))
    result = {
        'requests': int(_num(reqs.get('count'))),
        'rate': float(_num(reqs.get('rate'))),
        'iterations': int(_num(_values(metrics, 'iterations').get('count'))),
        'latency_ms': dict((key, float(_num(duration.get(src)))) for key, src in LATENCY_KEYS),
        'failure_rate': float(_num(failed.get('rate'))),
        'failed_requests': int(_num(failed.get('passes'))),
        'checks': {
            'passed': int(_num(checks.get('passes'))),
            'failed': int(_num(checks.get('fails'))),
            'rate': float(_num(checks.get('rate'), 1.0 if not checks else 0)),
            'by_name': check_list,
        },
        'dropped_iterations': int(_num(_values(metrics, 'dropped_iterations').get('count'))),
        'vus_max': int(_num(_values(metrics, 'vus_max').get('max'), _num(_values(metrics, 'vus_max').get('value')))),
        'vus_peak': int(_num(_values(metrics, 'vus').get('max'))),
        'data_sent_bytes': int(_num(_values(metrics, 'data_sent').get('count'))),
        'data_received_bytes': int(_num(_values(metrics, 'data_received').get('count'))),
        'thresholds': thresholds,
        'thresholds_ok': all(t['ok'] for t in thresholds),
        'test_duration_s': float(_num(state.get('testRunDurationMs'))) / 1000.0,
        'seed': dsa.get('seed'),
        'model': dsa.get('model'),
        'distribution': dsa.get('distribution'),
        'offered': offered,
    }
    return result


def load_summary(path):
    with open(path, 'r') as handle:
        try:
            data = json.load(handle)
        except ValueError as exc:
            raise SummaryError('%s is not valid JSON: %s' % (path, exc))
    return parse_summary(data)


def _open_text(path):
    if path.endswith('.gz'):
        return io.TextIOWrapper(gzip.open(path, 'rb'), encoding='utf-8')
    return open(path, 'r')


def latency_over_time(raw_path, bucket_s=1.0, metric='http_req_duration'):
    """Read k6 ``--out json`` output (plain or .gz) and bucket one trend metric by time.

    Returns a list of ``{t, count, avg, p95, max}`` (``t`` seconds from the first sample).
    """
    buckets = {}
    first = None
    with _open_text(raw_path) as handle:
        for line in handle:
            if metric not in line:
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get('type') != 'Point' or rec.get('metric') != metric:
                continue
            stamp = _parse_time(rec['data']['time'])
            if first is None:
                first = stamp
            key = int((stamp - first) // bucket_s)
            buckets.setdefault(key, []).append(float(rec['data']['value']))
    rows = []
    for key in sorted(buckets):
        vals = sorted(buckets[key])
        rows.append({
            't': key * bucket_s,
            'count': len(vals),
            'avg': sum(vals) / len(vals),
            'p95': percentile(vals, 95),
            'max': vals[-1],
        })
    return rows


def percentile(sorted_values, pct):
    """Linear-interpolated percentile of an already sorted list (same rule as k6)."""
    if not sorted_values:
        return 0.0
    pos = (len(sorted_values) - 1) * pct / 100.0
    low = int(pos)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (pos - low)


def _parse_time(text):
    """Seconds since the epoch for k6's RFC 3339 timestamps (nanosecond fractions, offsets)."""
    import datetime
    main, dummy, rest = text.partition('.')
    frac = ''
    tz = 'Z'
    if rest:
        idx = 0
        while idx < len(rest) and rest[idx].isdigit():
            idx += 1
        frac, tz = rest[:idx], rest[idx:] or 'Z'
    else:
        for sep in ('Z', '+', '-'):
            pos = main.rfind(sep)
            if pos > 10:
                main, tz = main[:pos], main[pos:]
                break
    base = datetime.datetime.strptime(main, '%Y-%m-%dT%H:%M:%S')
    offset = 0
    if tz not in ('Z', 'z', ''):
        sign = 1 if tz[0] == '+' else -1
        hours, dummy, minutes = tz[1:].partition(':')
        offset = sign * (int(hours) * 3600 + int(minutes or 0) * 60)
    epoch = (base - datetime.datetime(1970, 1, 1)).total_seconds() - offset
    return epoch + (float('0.' + frac) if frac else 0.0)
