# -*- coding: utf-8 -*-
# Copyright: dsa.platform developers
# MIT License (see LICENSE or https://opensource.org/licenses/MIT)
"""Compare many k6 runs: the logic behind ``dsa.platform.k6_report`` and the ``k6_*`` filters.

Input layout: ``<results_dir>/<configuration>/<scenario>/summary.json`` (the handleSummary JSON
written by k6_run; optional ``raw.json.gz`` or ``raw.json`` next to it from ``--out json``).
Output: ``report.csv``, ``report.md``, ``report.html`` (PNG plots embedded as data URIs, so the
page is self-contained) and the PNG files. Plots need matplotlib (Agg backend); tables do not.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import csv
import io
import os
import re

from ansible_collections.dsa.platform.plugins.module_utils.k6.fields import Field, argument_spec, default
from ansible_collections.dsa.platform.plugins.module_utils.k6.summary import (
    SummaryError,
    latency_over_time,
    load_summary,
)

COLUMNS = [
    'configuration', 'scenario', 'requests', 'rate', 'avg_ms', 'p50_ms', 'p90_ms', 'p95_ms', 'p99_ms',
    'max_ms', 'failure_rate', 'checks_passed', 'checks_failed', 'dropped_iterations', 'vus_max',
    'data_sent_bytes', 'data_received_bytes', 'thresholds_ok', 'duration_s', 'model', 'distribution', 'seed',
]
# Metrics that get a "<metric>_ratio" column (configuration / baseline, same scenario).
RATIO_METRICS = ['rate', 'avg_ms', 'p50_ms', 'p95_ms', 'p99_ms', 'failure_rate']
MARKDOWN_COLUMNS = ['configuration', 'scenario', 'requests', 'rate', 'p50_ms', 'p95_ms', 'p99_ms', 'max_ms',
                    'failure_rate', 'checks_failed', 'dropped_iterations', 'thresholds_ok']
RAW_NAMES = ('raw.json.gz', 'raw.json')


class ReportError(ValueError):
    pass


def row_from_result(result, configuration=None, scenario=None):
    """One flat row from a k6_run result (or a parsed summary). Missing values become None."""
    lat = result.get('latency_ms') or {}
    checks = result.get('checks') or {}
    dist = result.get('distribution')
    row = {
        'configuration': configuration if configuration is not None else result.get('configuration'),
        'scenario': scenario if scenario is not None else result.get('scenario'),
        'requests': result.get('requests'),
        'rate': result.get('rate'),
        'avg_ms': lat.get('avg'),
        'p50_ms': lat.get('p50'),
        'p90_ms': lat.get('p90'),
        'p95_ms': lat.get('p95'),
        'p99_ms': lat.get('p99'),
        'max_ms': lat.get('max'),
        'failure_rate': result.get('failure_rate'),
        'checks_passed': checks.get('passed'),
        'checks_failed': checks.get('failed'),
        'dropped_iterations': result.get('dropped_iterations'),
        'vus_max': result.get('vus_max'),
        'data_sent_bytes': result.get('data_sent_bytes'),
        'data_received_bytes': result.get('data_received_bytes'),
        'thresholds_ok': result.get('thresholds_ok'),
        'duration_s': result.get('test_duration_s'),
        'model': result.get('model'),
        'distribution': dist.get('type') if isinstance(dist, dict) else dist,
        'seed': result.get('seed'),
    }
    if row['configuration'] is None and isinstance(result.get('spec'), dict):
        row['configuration'] = (result['spec'].get('tags') or {}).get('configuration')
    if row['scenario'] is None and isinstance(result.get('spec'), dict):
        row['scenario'] = result['spec'].get('name')
    return row


def _natural_key(text):
    return [int(part) if part.isdigit() else part for part in re.split(r'(\d+)', str(text))]


def collect(results_dir):
    """Read every ``<configuration>/<scenario>/summary.json``. Returns (rows, raw_paths, errors).

    ``raw_paths`` maps (configuration, scenario) to the raw output path when there is one;
    ``errors`` lists unreadable summaries (they are skipped, not fatal)."""
    if not os.path.isdir(results_dir):
        raise ReportError('results directory %s does not exist' % results_dir)
    rows, raw_paths, errors = [], {}, []
    for configuration in sorted(os.listdir(results_dir), key=_natural_key):
        cdir = os.path.join(results_dir, configuration)
        if not os.path.isdir(cdir):
            continue
        for scenario in sorted(os.listdir(cdir), key=_natural_key):
            summary = os.path.join(cdir, scenario, 'summary.json')
            if not os.path.isfile(summary):
                continue
            try:
                parsed = load_summary(summary)
            except (SummaryError, IOError, OSError) as exc:
                errors.append('%s: %s' % (summary, exc))
                continue
            rows.append(row_from_result(parsed, configuration, scenario))
            for name in RAW_NAMES:
                raw = os.path.join(cdir, scenario, name)
                if os.path.isfile(raw):
                    raw_paths[(configuration, scenario)] = raw
                    break
    return rows, raw_paths, errors


def add_ratios(rows, baseline, metrics=None):
    """Copy of ``rows`` with ``<metric>_ratio`` = value / baseline's value for the same scenario.

    The ratio is None when the baseline has no such scenario or its value is 0 or missing."""
    metrics = list(metrics or RATIO_METRICS)
    base = dict((r['scenario'], r) for r in rows if r.get('configuration') == baseline)
    out = []
    for row in rows:
        new = dict(row)
        ref = base.get(row.get('scenario'))
        for metric in metrics:
            value = row.get(metric)
            ref_value = ref.get(metric) if ref else None
            if value is None or not ref_value:
                new[metric + '_ratio'] = None
            else:
                new[metric + '_ratio'] = float(value) / float(ref_value)
        out.append(new)
    return out


def configurations(rows):
    seen = []
    for row in rows:
        if row['configuration'] not in seen:
            seen.append(row['configuration'])
    return seen


def scenarios(rows):
    seen = []
    for row in rows:
        if row['scenario'] not in seen:
            seen.append(row['scenario'])
    return seen


def _fmt(value, column=''):
    if value is None:
        return ''
    if isinstance(value, bool):
        return 'yes' if value else 'NO'
    if isinstance(value, float):
        if column == 'failure_rate':
            return '%.2f%%' % (value * 100)
        if column.endswith('_ratio'):
            return '%.2f' % value
        return '%.2f' % value if abs(value) < 1e6 else '%.0f' % value
    return str(value)


def table_columns(rows, columns=None):
    cols = list(columns or COLUMNS)
    extra = sorted(set(k for r in rows for k in r if k.endswith('_ratio')))
    return cols + [c for c in extra if c not in cols]


def to_csv(rows, columns=None):
    cols = table_columns(rows, columns)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator='\n')
    writer.writerow(cols)
    for row in rows:
        writer.writerow(['' if row.get(c) is None else row.get(c) for c in cols])
    return buf.getvalue()


def to_markdown(rows, columns=None):
    cols = table_columns(rows, columns or MARKDOWN_COLUMNS)
    lines = ['| ' + ' | '.join(cols) + ' |', '|' + '---|' * len(cols)]
    for row in rows:
        cells = [_fmt(row.get(c), c).replace('|', '\\|') for c in cols]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def _html_escape(text):
    return (str(text).replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;').replace('"', '&quot;'))


def to_html(rows, images, title, baseline=None, notes=None):
    """Self-contained HTML page: the table and every PNG inlined as a data URI."""
    cols = table_columns(rows, MARKDOWN_COLUMNS)
    head = ''.join('<th>%s</th>' % _html_escape(c) for c in cols)
    body = []
    for row in rows:
        cells = []
        for c in cols:
            cls = ' class="bad"' if (c == 'thresholds_ok' and row.get(c) is False) or (
                c in ('checks_failed', 'dropped_iterations') and row.get(c)) else ''
            cells.append('<td%s>%s</td>' % (cls, _html_escape(_fmt(row.get(c), c))))
        body.append('<tr>%s</tr>' % ''.join(cells))
    figures = []
    for path in images:
        with open(path, 'rb') as handle:
            data = base64.b64encode(handle.read()).decode('ascii')
        name = os.path.basename(path)
        figures.append('<figure><img alt="%s" src="data:image/png;base64,%s"><figcaption>%s</figcaption></figure>'
                       % (_html_escape(name), data, _html_escape(name)))
    parts = [
        '<!DOCTYPE html>',
        '<html lang="en"><head><meta charset="utf-8"><title>%s</title>' % _html_escape(title),
        '<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:90%}'
        'td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}th{background:#eee}'
        'td.bad{background:#fdd}img{max-width:100%}figure{margin:1em 0}</style></head><body>',
        '<h1>%s</h1>' % _html_escape(title),
    ]
    if baseline:
        parts.append('<p>Ratios (<code>*_ratio</code>) are each configuration divided by the baseline '
                     '<strong>%s</strong> for the same scenario.</p>' % _html_escape(baseline))
    for note in notes or []:
        parts.append('<p>%s</p>' % _html_escape(note))
    parts.append('<table><thead><tr>%s</tr></thead><tbody>%s</tbody></table>' % (head, ''.join(body)))
    parts.extend(figures)
    parts.append('</body></html>')
    return '\n'.join(parts) + '\n'


def _pyplot():
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        raise ReportError('plots need matplotlib on the host that writes the report (or set plots: false)')
    return plt


def _grouped_bars(ax, rows, metric, confs, scens, scale=1.0):
    width = 0.8 / max(1, len(confs))
    index = dict(((r['configuration'], r['scenario']), r) for r in rows)
    for ci, conf in enumerate(confs):
        xs, ys = [], []
        for si, scen in enumerate(scens):
            row = index.get((conf, scen))
            if row is not None and row.get(metric) is not None:
                xs.append(si - 0.4 + width * (ci + 0.5))
                ys.append(row[metric] * scale)
        ax.bar(xs, ys, width=width, label=str(conf))
    ax.set_xticks(range(len(scens)))
    ax.set_xticklabels([str(s) for s in scens], rotation=45 if len(scens) > 3 else 0, ha='right' if len(scens) > 3 else 'center',
                       fontsize=8)


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, format='png', dpi=90, metadata={'Software': None})


def plot_all(rows, raw_paths, output_dir, baseline=None, bucket_s=1.0):
    """Write the PNG plots; returns their paths in display order."""
    plt = _pyplot()
    confs, scens = configurations(rows), scenarios(rows)
    paths = []
    wide = max(6, 1.1 * len(scens) + 2)

    fig, axes = plt.subplots(1, 3, figsize=(wide * 1.6, 4.5), sharey=False)
    for ax, (metric, label) in zip(axes, (('p50_ms', 'p50'), ('p95_ms', 'p95'), ('p99_ms', 'p99'))):
        _grouped_bars(ax, rows, metric, confs, scens)
        ax.set_title('latency %s (ms)' % label)
        ax.set_ylabel('ms')
    axes[0].legend(fontsize=8)
    path = os.path.join(output_dir, 'latency_percentiles.png')
    _save(fig, path)
    plt.close(fig)
    paths.append(path)

    for metric, title, scale, ylabel, name in (
            ('rate', 'throughput (requests/s)', 1.0, 'req/s', 'throughput.png'),
            ('failure_rate', 'error rate (% of requests)', 100.0, '%', 'error_rate.png')):
        fig, ax = plt.subplots(figsize=(wide, 4.5))
        _grouped_bars(ax, rows, metric, confs, scens, scale)
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
        path = os.path.join(output_dir, name)
        _save(fig, path)
        plt.close(fig)
        paths.append(path)

    if baseline and any(r.get('p95_ms_ratio') is not None for r in rows):
        fig, axes = plt.subplots(1, 2, figsize=(wide * 1.2, 4.5))
        others = [c for c in confs if c != baseline]
        for ax, metric, title in ((axes[0], 'p95_ms_ratio', 'p95 latency / %s' % baseline),
                                  (axes[1], 'rate_ratio', 'throughput / %s' % baseline)):
            _grouped_bars(ax, rows, metric, others, scens)
            ax.axhline(1.0, color='black', linewidth=0.8)
            ax.set_title(title)
        axes[0].legend(fontsize=8)
        path = os.path.join(output_dir, 'ratio_to_baseline.png')
        _save(fig, path)
        plt.close(fig)
        paths.append(path)

    for scen in scens:
        series = [(conf, raw_paths[(conf, scen)]) for conf in confs if (conf, scen) in raw_paths]
        if not series:
            continue
        fig, ax = plt.subplots(figsize=(9, 4))
        for conf, raw in series:
            points = latency_over_time(raw, bucket_s)
            ax.plot([p['t'] for p in points], [p['p95'] for p in points], label='%s p95' % conf)
            ax.plot([p['t'] for p in points], [p['avg'] for p in points], linestyle='--', label='%s avg' % conf)
        ax.set_title('latency over time: %s' % scen)
        ax.set_xlabel('seconds since first request')
        ax.set_ylabel('ms')
        ax.legend(fontsize=8)
        path = os.path.join(output_dir, 'latency_over_time_%s.png' % re.sub(r'[^A-Za-z0-9_.-]+', '_', str(scen)))
        _save(fig, path)
        plt.close(fig)
        paths.append(path)
    return paths


def _write_if_changed(path, content, binary=False):
    mode = 'rb' if binary else 'r'
    if os.path.exists(path):
        with open(path, mode) as handle:
            if handle.read() == content:
                return False
    with open(path, 'wb' if binary else 'w') as handle:
        handle.write(content)
    return True


# The options of dsa.platform.k6_report (its argument_spec) and build_report()'s defaults.
REPORT_FIELDS = {
    'results_dir': Field('path', required=True),
    'output_dir': Field('path'),
    'baseline': Field('str'),
    'formats': Field('list', elements='str', choices=('csv', 'markdown', 'html'), default=['csv', 'markdown', 'html']),
    'plots': Field('bool', default=True),
    'title': Field('str', default='k6 benchmark report'),
    'bucket': Field('float', default=1.0),
}


def module_argument_spec():
    """argument_spec of dsa.platform.k6_report."""
    return argument_spec(REPORT_FIELDS)


def build_report(results_dir, output_dir=None, baseline=None, formats=None, plots=None, title=None, bucket_s=None,
                 check_mode=False):
    """Collect, compare and write. Returns a dict (rows, files, changed, ...). An option left at
    None takes k6_report's default (REPORT_FIELDS; bucket_s is the option bucket)."""
    formats = default(REPORT_FIELDS, 'formats', formats)
    plots = default(REPORT_FIELDS, 'plots', plots)
    title = default(REPORT_FIELDS, 'title', title)
    bucket_s = default(REPORT_FIELDS, 'bucket', bucket_s)
    rows, raw_paths, errors = collect(results_dir)
    if not rows:
        raise ReportError('no <configuration>/<scenario>/summary.json found under %s' % results_dir)
    confs = configurations(rows)
    if baseline is not None:
        if baseline not in confs:
            raise ReportError('baseline configuration %r not found (have: %s)' % (baseline, ', '.join(map(str, confs))))
        rows = add_ratios(rows, baseline)
    missing = []
    if baseline is not None:
        have = set((r['configuration'], r['scenario']) for r in rows)
        for conf in confs:
            for scen in scenarios(rows):
                if (conf, scen) not in have:
                    missing.append('%s/%s' % (conf, scen))
    result = {
        'rows': rows,
        'configurations': confs,
        'scenarios': scenarios(rows),
        'baseline': baseline,
        'errors': errors,
        'missing': missing,
        'files': {},
        'changed': False,
    }
    if check_mode:
        return result
    output_dir = output_dir or results_dir
    if not os.path.isdir(output_dir):
        os.makedirs(output_dir)
    changed = False
    if 'csv' in formats:
        path = os.path.join(output_dir, 'report.csv')
        changed |= _write_if_changed(path, to_csv(rows))
        result['files']['csv'] = path
    if 'markdown' in formats:
        path = os.path.join(output_dir, 'report.md')
        text = '# %s\n\n' % title
        if baseline:
            text += 'Ratios are each configuration divided by the baseline `%s` for the same scenario.\n\n' % baseline
        text += to_markdown(rows)
        changed |= _write_if_changed(path, text)
        result['files']['markdown'] = path
    images = []
    if plots:
        before = {}
        for name in os.listdir(output_dir):
            if name.endswith('.png'):
                with open(os.path.join(output_dir, name), 'rb') as handle:
                    before[name] = handle.read()
        images = plot_all(rows, raw_paths, output_dir, baseline, bucket_s)
        for path in images:
            with open(path, 'rb') as handle:
                if before.get(os.path.basename(path)) != handle.read():
                    changed = True
        result['files']['png'] = images
    if 'html' in formats:
        path = os.path.join(output_dir, 'report.html')
        notes = ['Unreadable summaries skipped: %s' % '; '.join(errors)] if errors else []
        changed |= _write_if_changed(path, to_html(rows, images, title, baseline, notes))
        result['files']['html'] = path
    result['changed'] = changed
    return result
