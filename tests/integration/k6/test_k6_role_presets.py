"""The k6 role's data: argument specs document exactly the defaults, and every preset scenario
becomes a valid k6_run spec (the reference preset is the seed's 12 cases)."""

import os

import pytest
import yaml

from ansible_collections.dsa.platform.plugins.module_utils.k6.spec import normalize_spec

ROLE = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', 'roles', 'k6'))


def load(*parts):
    with open(os.path.join(ROLE, *parts)) as handle:
        return yaml.safe_load(handle)


def test_argument_specs_document_exactly_the_defaults():
    defaults = load('defaults', 'main.yml')
    options = load('meta', 'argument_specs.yml')['argument_specs']['main']['options']
    assert list(options) == list(defaults)
    for name, value in defaults.items():
        assert options[name].get('default') == value, name
        assert options[name].get('description'), name


def common():
    return {'base_url': 'http://127.0.0.1:8080', 'requests': [{'path': '/healthz'}], 'seed': 1}


@pytest.mark.parametrize('preset', ['smoke', 'reference'])
def test_every_preset_scenario_is_a_valid_spec(preset):
    for scenario in load('vars', 'main.yml')['_k6_presets'][preset]:
        spec = dict(common(), **scenario['spec'])
        spec['name'] = scenario['name']
        normalize_spec(spec)


def test_reference_is_the_seeds_twelve_cases():
    cases = load('vars', 'main.yml')['_k6_presets']['reference']
    got = sorted((c['spec']['vus'], c['spec']['duration'], c['spec']['distribution']['type']) for c in cases)
    want = sorted((vus, duration, dist) for vus, duration in ((50, '5m'), (500, '10m'), (5000, '15m'))
                  for dist in ('normal', 'poisson', 'uniform', 'exponential'))
    assert got == want
    assert all(c['spec']['model'] == 'closed' for c in cases)
    assert len(set(c['name'] for c in cases)) == 12
    means = set()
    for c in cases:
        d = normalize_spec(dict(common(), **c['spec']))['distribution']
        means.add({'normal': d.get('mean'), 'poisson': d.get('lambda', 0) * d.get('unit', 0),
                   'uniform': (d.get('min', 0) + d.get('max', 0)) / 2.0, 'exponential': d.get('mean')}[d['type']])
    assert means == {1.0}  # same mean think time: only the shape differs


def test_default_requests_answer_directly():
    data = load('vars', 'main.yml')
    for req in data['_k6_default_requests_public'] + data['_k6_default_requests_keyed']:
        assert req['path'] != '/' and req['expect'].get('json_keys')  # a body check, not just a status
