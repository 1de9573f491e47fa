"""k6_report: collecting runs, ratios to a baseline, CSV/Markdown/HTML output and plots."""

import base64
import copy
import csv
import io
import json
import os

import pytest

from ansible_collections.dsa.platform.plugins.module_utils.k6.report import (
    ReportError,
    add_ratios,
    build_report,
    collect,
    to_markdown,
)

FIXTURES = os.path.join(os.path.dirname(__file__), 'k6_fixtures')


def summary(p95, rate, failed_rate=0.0):
    with open(os.path.join(FIXTURES, 'summary_closed.json')) as handle:
        data = json.load(handle)
    data = copy.deepcopy(data)
    data['metrics']['http_req_duration']['values']['p(95)'] = p95
    data['metrics']['http_reqs']['values']['rate'] = rate
    data['metrics']['http_req_failed']['values']['rate'] = failed_rate
    return data


@pytest.fixture
def results(tmp_path):
    root = tmp_path / 'results'
    layout = {
        ('host', 'smoke'): summary(10.0, 100.0),
        ('host', 'ref-50-normal'): summary(20.0, 50.0, 0.01),
        ('microk8s', 'smoke'): summary(15.0, 80.0),
        ('microk8s', 'ref-50-normal'): summary(40.0, 25.0, 0.02),
        ('microk8s', 'only-here'): summary(1.0, 1.0),
    }
    for (conf, scen), data in layout.items():
        d = root / conf / scen
        d.mkdir(parents=True)
        (d / 'summary.json').write_text(json.dumps(data))
    (root / 'host' / 'broken').mkdir()
    (root / 'host' / 'broken' / 'summary.json').write_text('{"no": "metrics"}')
    (root / 'host' / 'empty').mkdir()  # no summary: ignored
    return root


def test_collect_reads_every_configuration_and_scenario(results):
    rows, raw, errors = collect(str(results))
    assert [(r['configuration'], r['scenario']) for r in rows] == [
        ('host', 'ref-50-normal'), ('host', 'smoke'),
        ('microk8s', 'only-here'), ('microk8s', 'ref-50-normal'), ('microk8s', 'smoke')]
    assert raw == {}
    assert len(errors) == 1 and 'broken' in errors[0]


def test_ratios_are_relative_to_the_same_scenario_of_the_baseline(results):
    rows, _, _ = collect(str(results))
    by = dict(((r['configuration'], r['scenario']), r) for r in add_ratios(rows, 'host'))
    assert by[('microk8s', 'smoke')]['p95_ms_ratio'] == pytest.approx(1.5)
    assert by[('microk8s', 'smoke')]['rate_ratio'] == pytest.approx(0.8)
    assert by[('microk8s', 'ref-50-normal')]['p95_ms_ratio'] == pytest.approx(2.0)
    assert by[('microk8s', 'ref-50-normal')]['failure_rate_ratio'] == pytest.approx(2.0)
    assert by[('host', 'smoke')]['p95_ms_ratio'] == 1.0
    assert by[('microk8s', 'only-here')]['p95_ms_ratio'] is None  # no baseline for it
    assert by[('host', 'smoke')]['failure_rate_ratio'] is None  # baseline value 0: no ratio


def test_build_report_writes_csv_markdown_and_self_contained_html(results, tmp_path):
    out = tmp_path / 'report'
    res = build_report(str(results), str(out), baseline='host', title='campus <reference>')
    assert res['changed'] is True
    assert res['missing'] == ['host/only-here']
    with open(res['files']['csv']) as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == 5
    row = [r for r in table if r['configuration'] == 'microk8s' and r['scenario'] == 'smoke'][0]
    assert float(row['p95_ms']) == 15.0 and float(row['p95_ms_ratio']) == 1.5
    md = open(res['files']['markdown']).read()
    assert md.startswith('# campus <reference>')
    assert '| microk8s | smoke |' in md and 'p95_ms_ratio' in md
    html = open(res['files']['html']).read()
    assert '<title>campus &lt;reference&gt;</title>' in html
    names = sorted(os.path.basename(p) for p in res['files']['png'])
    assert names == ['error_rate.png', 'latency_percentiles.png', 'ratio_to_baseline.png', 'throughput.png']
    # every PNG is inlined and decodes to the file's bytes: the page needs nothing else
    for path in res['files']['png']:
        with open(path, 'rb') as handle:
            data = handle.read()
        assert data.startswith(b'\x89PNG')
        assert 'data:image/png;base64,' + base64.b64encode(data).decode() in html
    assert 'src="http' not in html and "src='" not in html


def test_second_report_over_same_results_changes_nothing(results, tmp_path):
    out = str(tmp_path / 'r')
    build_report(str(results), out, baseline='host')
    assert build_report(str(results), out, baseline='host')['changed'] is False


def test_check_mode_writes_nothing(results, tmp_path):
    out = tmp_path / 'r'
    res = build_report(str(results), str(out), baseline='host', check_mode=True)
    assert len(res['rows']) == 5 and res['files'] == {}
    assert not out.exists()


def test_unknown_baseline_and_empty_results_fail(results, tmp_path):
    with pytest.raises(ReportError, match="baseline configuration 'k3s' not found"):
        build_report(str(results), baseline='k3s', check_mode=True)
    (tmp_path / 'none').mkdir()
    with pytest.raises(ReportError, match='no <configuration>/<scenario>/summary.json'):
        build_report(str(tmp_path / 'none'), check_mode=True)
    with pytest.raises(ReportError, match='does not exist'):
        build_report(str(tmp_path / 'missing'), check_mode=True)


def test_tables_without_plots(results, tmp_path):
    res = build_report(str(results), str(tmp_path / 'o'), formats=['csv'], plots=False)
    assert set(res['files']) == {'csv'}


def test_markdown_escapes_pipes():
    md = to_markdown([{'configuration': 'a|b', 'scenario': 's', 'failure_rate': 0.5, 'thresholds_ok': False}])
    assert 'a\\|b' in md and '50.00%' in md and '| NO |' in md
