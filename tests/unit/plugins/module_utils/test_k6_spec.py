"""Spec validation for k6_run: defaults, and every error names the field and the reason."""

import random

import pytest

from ansible_collections.dsa.platform.plugins.module_utils.k6.spec import (
    SpecError,
    format_duration,
    normalize_spec,
    parse_duration,
    parse_template_string,
)


def base(**over):
    spec = {
        'base_url': 'http://127.0.0.1:8000',
        'duration': '10s',
        'requests': [{'path': '/healthz'}],
    }
    spec.update(over)
    return spec


def error_of(spec):
    with pytest.raises(SpecError) as info:
        normalize_spec(spec)
    return info.value


def test_defaults_are_filled_in():
    norm = normalize_spec(base(seed=5))
    assert norm['model'] == 'closed'
    assert norm['distribution'] == {'type': 'constant', 'value': 1.0}
    assert norm['vus'] == 10 and norm['max_vus'] is None
    assert norm['total_duration'] == 10.0
    assert norm['follow_redirects'] is False
    assert norm['seed'] == 5
    req = norm['requests'][0]
    assert req['method'] == 'GET' and req['name'] == 'GET /healthz'
    assert req['expect'] == {'status': [200], 'body_contains': None, 'json_keys': []}


def test_missing_seed_is_chosen_and_reported():
    norm = normalize_spec(base(), seed_source=random.Random(1))
    again = normalize_spec(base(), seed_source=random.Random(1))
    assert isinstance(norm['seed'], int) and 1 <= norm['seed'] < 2 ** 31
    assert norm['seed'] == again['seed']


def test_base_url_trailing_slash_removed():
    assert normalize_spec(base(base_url='http://h:1/api/'))['base_url'] == 'http://h:1/api'


@pytest.mark.parametrize('url', ['ftp://h/', 'h:80', '127.0.0.1:8000', 'http://', 'http://h/?q=1', 'http://h:99999/'])
def test_base_url_must_be_http(url):
    err = error_of(base(base_url=url))
    assert err.path == 'spec.base_url'


def test_status_error_names_the_request_index():
    reqs = [{'path': '/a'}, {'path': '/b'}, {'path': '/c', 'expect': {'status': 700}}]
    err = error_of(base(requests=reqs))
    assert str(err) == 'spec.requests[2].expect.status: must be an integer 100-599, got 700'


def test_status_list_element_path():
    err = error_of(base(requests=[{'path': '/a', 'expect': {'status': [200, 'x']}}]))
    assert err.path == 'spec.requests[0].expect.status[1]'


@pytest.mark.parametrize('field,value,path', [
    ('path', 'healthz', 'spec.requests[0].path'),
    ('method', 'FETCH', 'spec.requests[0].method'),
    ('weight', 0, 'spec.requests[0].weight'),
    ('weight', 'heavy', 'spec.requests[0].weight'),
    ('colour', 'red', 'spec.requests[0].colour'),
    ('expect', {'json_keys': ['a..b']}, 'spec.requests[0].expect.json_keys[0]'),
    ('expect', {'body_contains': ''}, 'spec.requests[0].expect.body_contains'),
    ('expect', {'statuz': 200}, 'spec.requests[0].expect.statuz'),
])
def test_request_field_errors(field, value, path):
    req = {'path': '/a'}
    req[field] = value
    assert error_of(base(requests=[req])).path == path


def test_get_with_body_rejected():
    err = error_of(base(requests=[{'path': '/a', 'body': {'x': 1}}]))
    assert err.path == 'spec.requests[0].body'


def test_json_body_gets_content_type_unless_given():
    norm = normalize_spec(base(requests=[
        {'path': '/a', 'method': 'post', 'body': {'x': 1}},
        {'path': '/b', 'method': 'POST', 'body': {'x': 1}, 'headers': {'content-type': 'application/x+json'}},
        {'path': '/c', 'method': 'POST', 'body': 'raw text'},
    ]))
    assert norm['requests'][0]['headers'] == {'Content-Type': 'application/json'}
    assert norm['requests'][0]['method'] == 'POST'
    assert norm['requests'][1]['headers'] == {'content-type': 'application/x+json'}
    assert norm['requests'][2]['headers'] == {}


def test_duplicate_request_names_rejected():
    err = error_of(base(requests=[{'path': '/a', 'name': 'x'}, {'path': '/b', 'name': 'x'}]))
    assert err.path == 'spec.requests[1].name'


@pytest.mark.parametrize('text,expected', [
    ('30s', 30.0), ('5m', 300.0), ('1m30s', 90.0), ('500ms', 0.5), ('1h', 3600.0), (15, 15.0), ('2.5', 2.5),
])
def test_parse_duration(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize('text', ['abc', '5 minutes', -1, True, '1d', None])
def test_parse_duration_rejects(text):
    with pytest.raises(SpecError):
        parse_duration(text, 'spec.duration')


def test_format_duration():
    assert format_duration(30) == '30s'
    assert format_duration(0.25) == '250ms'


def test_duration_or_stages_required_not_both():
    assert error_of({'base_url': 'http://h', 'requests': [{'path': '/'}]}).path == 'spec.duration'
    err = error_of(base(stages=[{'duration': '5s', 'target': 5}]))
    assert err.path == 'spec.duration'
    norm = normalize_spec({'base_url': 'http://h', 'requests': [{'path': '/'}],
                           'stages': [{'duration': '5s', 'target': 5}, {'duration': '1m', 'target': 0}]})
    assert norm['total_duration'] == 65.0
    assert norm['stages'] == [{'duration': 5.0, 'target': 5}, {'duration': 60.0, 'target': 0}]


def test_closed_stage_target_must_be_whole_vus():
    spec = {'base_url': 'http://h', 'requests': [{'path': '/'}], 'stages': [{'duration': '5s', 'target': 2.5}]}
    assert error_of(spec).path == 'spec.stages[0].target'


def test_model_must_be_known():
    assert error_of(base(model='half-open')).path == 'spec.model'


def test_rate_only_in_open_model():
    assert error_of(base(rate=10)).path == 'spec.rate'
    assert error_of(base(max_vus=10)).path == 'spec.max_vus'


def test_open_model_needs_rate():
    assert error_of(base(model='open', distribution={'type': 'poisson'})).path == 'spec.rate'


def test_open_model_max_vus_defaults_to_vus_and_not_below():
    norm = normalize_spec(base(model='open', rate=5, vus=20))
    assert norm['max_vus'] == 20
    assert norm['distribution'] == {'type': 'constant', 'slice': 1.0}
    assert error_of(base(model='open', rate=5, vus=20, max_vus=10)).path == 'spec.max_vus'


@pytest.mark.parametrize('dist,expected', [
    ({'type': 'constant', 'value': 0.5}, {'type': 'constant', 'value': 0.5}),
    ({'type': 'normal', 'mean': 1, 'stddev': 0.2}, {'type': 'normal', 'mean': 1, 'stddev': 0.2}),
    ({'type': 'poisson', 'lambda': 3}, {'type': 'poisson', 'lambda': 3, 'unit': 1.0}),
    ({'type': 'uniform', 'min': 1, 'max': 3}, {'type': 'uniform', 'min': 1, 'max': 3}),
    ({'type': 'exponential', 'lambda': 4}, {'type': 'exponential', 'mean': 0.25}),
    ({'type': 'exponential', 'mean': 2}, {'type': 'exponential', 'mean': 2}),
])
def test_closed_distributions(dist, expected):
    assert normalize_spec(base(distribution=dist))['distribution'] == expected


@pytest.mark.parametrize('dist,path', [
    ({'type': 'gaussian'}, 'spec.distribution.type'),
    ({'type': 'normal', 'stddev': 1}, 'spec.distribution.mean'),
    ({'type': 'normal', 'mean': 1}, 'spec.distribution.stddev'),
    ({'type': 'normal', 'mean': -1, 'stddev': 1}, 'spec.distribution.mean'),
    ({'type': 'poisson'}, 'spec.distribution.lambda'),
    ({'type': 'poisson', 'lambda': 0}, 'spec.distribution.lambda'),
    ({'type': 'uniform', 'min': 3, 'max': 1}, 'spec.distribution.max'),
    ({'type': 'uniform', 'min': 1}, 'spec.distribution.max'),
    ({'type': 'exponential'}, 'spec.distribution'),
    ({'type': 'exponential', 'lambda': 1, 'mean': 1}, 'spec.distribution'),
    ({'type': 'constant', 'slice': '2s'}, 'spec.distribution.slice'),
    ({'type': 'constant', 'lambda': 2}, 'spec.distribution.lambda'),
])
def test_closed_distribution_errors(dist, path):
    assert error_of(base(distribution=dist)).path == path


@pytest.mark.parametrize('dist,path', [
    ({'type': 'normal', 'mean': 5, 'stddev': 1}, 'spec.distribution.mean'),
    ({'type': 'poisson', 'lambda': 5}, 'spec.distribution.lambda'),
    ({'type': 'exponential', 'mean': 5}, 'spec.distribution.mean'),
    ({'type': 'constant', 'value': 5}, 'spec.distribution.value'),
    ({'type': 'constant', 'slice': '500ms'}, 'spec.distribution.slice'),
])
def test_open_distribution_errors(dist, path):
    assert error_of(base(model='open', rate=10, distribution=dist)).path == path


def test_open_uniform_needs_no_rate_but_no_stages():
    norm = normalize_spec(base(model='open', distribution={'type': 'uniform', 'min': 5, 'max': 15, 'slice': '2s'}))
    assert norm['distribution'] == {'type': 'uniform', 'min': 5, 'max': 15, 'slice': 2.0}
    spec = {'base_url': 'http://h', 'model': 'open', 'requests': [{'path': '/'}],
            'stages': [{'duration': '10s', 'target': 50}], 'distribution': {'type': 'uniform', 'min': 1, 'max': 2}}
    assert error_of(spec).path == 'spec.distribution'


def test_thresholds():
    norm = normalize_spec(base(thresholds={
        'http_req_duration': 'p(95)<500',
        'http_req_duration{name:ingest}': ['p(99) < 900'],
        'http_req_failed': [{'threshold': 'rate<0.01', 'abortOnFail': True, 'delayAbortEval': '10s'}],
    }))
    assert norm['thresholds'] == {
        'http_req_duration': ['p(95)<500'],
        'http_req_duration{name:ingest}': ['p(99) < 900'],
        'http_req_failed': [{'threshold': 'rate<0.01', 'abortOnFail': True, 'delayAbortEval': '10s'}],
    }


@pytest.mark.parametrize('thresholds,path', [
    ({'http req': ['p(95)<1']}, 'spec.thresholds.http req'),
    ({'http_req_duration': []}, 'spec.thresholds.http_req_duration'),
    ({'http_req_duration': ['fast please']}, 'spec.thresholds.http_req_duration[0]'),
    ({'http_req_duration': [{'abortOnFail': True}]}, 'spec.thresholds.http_req_duration[0].threshold'),
])
def test_threshold_errors(thresholds, path):
    assert error_of(base(thresholds=thresholds)).path == path


def test_seed_range_and_tags():
    assert error_of(base(seed=-1)).path == 'spec.seed'
    assert error_of(base(seed=2 ** 32)).path == 'spec.seed'
    assert error_of(base(tags={'bad tag': 'x'})).path == 'spec.tags.bad tag'
    assert normalize_spec(base(tags={'configuration': 'host', 'n': 3}))['tags'] == {'configuration': 'host', 'n': '3'}


def test_unknown_top_level_field():
    err = error_of(base(iterations=5))
    assert err.path == 'spec.iterations' and 'unknown field' in err.reason


def test_large_vus_accepted():
    assert normalize_spec(base(vus=5000))['vus'] == 5000
    assert error_of(base(vus=0)).path == 'spec.vus'


# --- template language ---

def test_template_parts():
    parts = parse_template_string('dev-${random.int(1, 9)}/${uuid}', 'p')
    assert parts == [('lit', 'dev-'), ('ph', ('int', 1, 9)), ('lit', '/'), ('ph', ('uuid',))]
    assert parse_template_string('${random.float(0, 1, 2)}', 'p') == [('ph', ('float', 0.0, 1.0, 2))]
    assert parse_template_string("${random.choice(['a', 2])}", 'p') == [('ph', ('choice', ['a', 2]))]
    assert parse_template_string('plain', 'p') == [('lit', 'plain')]


@pytest.mark.parametrize('body,path', [
    ({'x': '${random.int(5, 1)}'}, 'spec.requests[0].body.x'),
    ({'x': '${random.int(1.5, 3)}'}, 'spec.requests[0].body.x'),
    ({'x': ['ok', '${random.gauss(1)}']}, 'spec.requests[0].body.x[1]'),
    ({'x': {'y': '${random.choice([])}'}}, 'spec.requests[0].body.x.y'),
    ({'x': '${random.float(0, 1, 99)}'}, 'spec.requests[0].body.x'),
    ({'x': '${random.int(__import__("os"), 1)}'}, 'spec.requests[0].body.x'),
    ({'x': '${now'}, 'spec.requests[0].body.x'),
])
def test_template_errors_name_the_body_field(body, path):
    err = error_of(base(requests=[{'path': '/a', 'method': 'POST', 'body': body}]))
    assert err.path == path


def test_template_errors_in_path_and_headers():
    assert error_of(base(requests=[{'path': '/a/${foo}'}])).path == 'spec.requests[0].path'
    err = error_of(base(requests=[{'path': '/a', 'headers': {'X-Id': '${random.int(1)}'}}]))
    assert err.path == 'spec.requests[0].headers.X-Id'
