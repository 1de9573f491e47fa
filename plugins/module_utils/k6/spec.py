# -*- coding: utf-8 -*-
# Copyright: dsa.platform developers
# MIT License (see LICENSE or https://opensource.org/licenses/MIT)
"""Validation and normalisation of the declarative k6 test spec used by ``dsa.platform.k6_run``.

Plain Python with no Ansible dependency so it can be unit-tested directly. ``normalize_spec``
returns a new dict with every default filled in, or raises ``SpecError`` whose message starts
with the path of the offending field (``spec.requests[2].expect.status: ...``).

SPEC_FIELDS (and the tables it nests) is the one declaration of the spec's options: the defaults
applied here, and the argument_spec of dsa.platform.k6_run (module_utils/k6/runner.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ast
import random
import re

from ansible_collections.dsa.platform.plugins.module_utils.k6.fields import Field, default

try:  # Python 3
    from urllib.parse import urlsplit
except ImportError:  # pragma: no cover - Python 2 is not supported, kept for sanity tests
    from urlparse import urlsplit  # type: ignore

MODELS = ('closed', 'open')
DISTRIBUTIONS = ('constant', 'normal', 'poisson', 'uniform', 'exponential')
METHODS = ('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS')
JSON_BODY_METHODS = ('POST', 'PUT', 'PATCH', 'DELETE')

_DURATION_RE = re.compile(r'^(?:(\d+(?:\.\d+)?)(ms|s|m|h))+$')
_DURATION_PART_RE = re.compile(r'(\d+(?:\.\d+)?)(ms|s|m|h)')
_UNIT_SECONDS = {'ms': 0.001, 's': 1.0, 'm': 60.0, 'h': 3600.0}
_METRIC_RE = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*(\{[^{}]+\})?$')
_TAG_RE = re.compile(r'^[A-Za-z_][A-Za-z0-9_.-]*$')
_PLACEHOLDER_RE = re.compile(r'\$\{([^{}]*)\}')
_PATH_RE = re.compile(r'^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_0-9][A-Za-z0-9_-]*)*$')

EXPECT_FIELDS = {
    'status': Field('raw', default=200),
    'body_contains': Field('str'),
    # a list of JSON paths, not secrets (the name merely contains "keys")
    'json_keys': Field('list', elements='str', no_log=False),
}
REQUEST_FIELDS = {
    'name': Field('str'),
    'method': Field('str', default='GET', choices=METHODS),
    'path': Field('str', required=True),
    'weight': Field('float', default=1.0),
    'headers': Field('dict'),
    'body': Field('raw'),
    'timeout': Field('str'),
    'expect': Field('dict', options=EXPECT_FIELDS),
}
# Which parameters a distribution takes depends on its type (DISTRIBUTION_KEYS) and the model;
# the defaults that depend on the model (value, unit, slice) are applied in _normalize_distribution.
DISTRIBUTION_FIELDS = {
    'type': Field('str', required=True, choices=DISTRIBUTIONS),
    'value': Field('float'),
    'mean': Field('float'),
    'stddev': Field('float'),
    'lambda': Field('float'),
    'unit': Field('float'),
    'min': Field('float'),
    'max': Field('float'),
    'slice': Field('str'),
}
STAGE_FIELDS = {
    'duration': Field('str', required=True),
    'target': Field('float', required=True),
}
SPEC_FIELDS = {
    'name': Field('str', default='k6'),
    'base_url': Field('str', required=True),
    'requests': Field('list', elements='dict', required=True, options=REQUEST_FIELDS),
    'model': Field('str', default='closed', choices=MODELS),
    'distribution': Field('dict', options=DISTRIBUTION_FIELDS),
    'vus': Field('int', default=10),
    'max_vus': Field('int'),
    'rate': Field('float'),
    'duration': Field('str'),
    'stages': Field('list', elements='dict', options=STAGE_FIELDS),
    'thresholds': Field('dict'),
    'seed': Field('int'),
    'tags': Field('dict'),
    'follow_redirects': Field('bool', default=False),
    'timeout': Field('str', default='10s'),
    'graceful_stop': Field('str', default='5s'),
    'insecure_skip_tls_verify': Field('bool', default=False),
}

SPEC_KEYS = frozenset(SPEC_FIELDS)
REQUEST_KEYS = frozenset(REQUEST_FIELDS)
EXPECT_KEYS = frozenset(EXPECT_FIELDS)
DISTRIBUTION_KEYS = {
    'constant': frozenset(['type', 'value', 'slice']),
    'normal': frozenset(['type', 'mean', 'stddev', 'slice']),
    'poisson': frozenset(['type', 'lambda', 'unit', 'slice']),
    'uniform': frozenset(['type', 'min', 'max', 'slice']),
    'exponential': frozenset(['type', 'lambda', 'mean', 'slice']),
}


def _given(mapping):
    """The entries that are set: a null value counts as unset (AnsibleModule passes every
    sub-option, with null for those not given), so the field's default applies to it."""
    return dict((key, value) for key, value in mapping.items() if value is not None)


def _default(fields, mapping, key):
    """mapping[key], or the table's default when it is unset (or null)."""
    return default(fields, key, mapping.get(key))


class SpecError(ValueError):
    """An invalid spec. ``path`` names the field, ``reason`` says why."""

    def __init__(self, path, reason):
        self.path = path
        self.reason = reason
        super(SpecError, self).__init__('%s: %s' % (path, reason))


def parse_duration(value, path='duration'):
    """Return seconds (float) for a k6 duration (``"90s"``, ``"1m30s"``, ``"500ms"``) or a number of seconds."""
    if isinstance(value, bool):
        raise SpecError(path, 'must be a duration such as "30s", "5m", "1m30s" or a number of seconds')
    if isinstance(value, (int, float)):
        if value < 0:
            raise SpecError(path, 'must not be negative')
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if re.match(r'^\d+(\.\d+)?$', text):
            return float(text)
        if _DURATION_RE.match(text):
            return sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART_RE.findall(text))
    raise SpecError(path, 'must be a duration such as "30s", "5m", "1m30s" or a number of seconds, got %r' % (value,))


def format_duration(seconds):
    """k6 duration string for a number of seconds (millisecond resolution)."""
    ms = int(round(seconds * 1000))
    if ms % 1000 == 0:
        return '%ds' % (ms // 1000)
    return '%dms' % ms


def _number(value, path, minimum=None, maximum=None, integer=False, exclusive_min=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, str):
            try:
                value = int(value) if integer else float(value)
            except ValueError:
                raise SpecError(path, 'must be %s, got %r' % ('an integer' if integer else 'a number', value))
        else:
            raise SpecError(path, 'must be %s, got %r' % ('an integer' if integer else 'a number', value))
    if integer and int(value) != value:
        raise SpecError(path, 'must be an integer, got %r' % (value,))
    if integer:
        value = int(value)
    if minimum is not None:
        if exclusive_min and value <= minimum:
            raise SpecError(path, 'must be greater than %s, got %s' % (minimum, value))
        if not exclusive_min and value < minimum:
            raise SpecError(path, 'must be at least %s, got %s' % (minimum, value))
    if maximum is not None and value > maximum:
        raise SpecError(path, 'must be at most %s, got %s' % (maximum, value))
    return value


def _bool(value, path):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ('true', 'yes', 'on', '1', 'false', 'no', 'off', '0'):
        return value.lower() in ('true', 'yes', 'on', '1')
    raise SpecError(path, 'must be a boolean, got %r' % (value,))


def _unknown_keys(mapping, allowed, path):
    extra = sorted(set(mapping) - set(allowed))
    if extra:
        raise SpecError('%s.%s' % (path, extra[0]), 'unknown field (allowed: %s)' % ', '.join(sorted(allowed)))


def _string_map(value, path):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SpecError(path, 'must be a mapping of names to strings')
    out = {}
    for key, val in value.items():
        if not isinstance(key, str) or not key:
            raise SpecError(path, 'keys must be non-empty strings, got %r' % (key,))
        if isinstance(val, bool) or not isinstance(val, (str, int, float)):
            raise SpecError('%s.%s' % (path, key), 'must be a string, got %r' % (val,))
        out[key] = str(val)
    return out


# --- body/path template language ------------------------------------------------------------

def parse_placeholder(expr, path):
    """Parse the inside of ``${...}``. Returns a tuple describing the generator.

    Supported: ``uuid``, ``now``, ``vu``, ``iter``, ``random.int(a, b)``, ``random.float(a, b[, digits])``,
    ``random.choice([v1, v2, ...])``.
    """
    text = expr.strip()
    if text in ('uuid', 'now', 'vu', 'iter'):
        return (text,)
    match = re.match(r'^random\.(int|float|choice)\s*\((.*)\)$', text, re.S)
    if not match:
        raise SpecError(path, 'unknown placeholder ${%s} (use uuid, now, vu, iter, random.int(a, b), '
                              'random.float(a, b[, digits]) or random.choice([...]))' % text)
    kind, raw_args = match.group(1), match.group(2)
    try:
        args = ast.literal_eval('(%s,)' % raw_args) if raw_args.strip() else ()
    except (ValueError, SyntaxError):
        raise SpecError(path, 'arguments of ${%s} must be literals' % text)
    if kind == 'int':
        if len(args) != 2 or not all(isinstance(a, int) and not isinstance(a, bool) for a in args):
            raise SpecError(path, 'random.int takes two integers (min, max)')
        if args[0] > args[1]:
            raise SpecError(path, 'random.int(min, max) needs min <= max')
        return ('int', args[0], args[1])
    if kind == 'float':
        if len(args) not in (2, 3) or not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args):
            raise SpecError(path, 'random.float takes two numbers (min, max) and optional digits')
        if args[0] > args[1]:
            raise SpecError(path, 'random.float(min, max) needs min <= max')
        digits = None
        if len(args) == 3:
            if not isinstance(args[2], int) or not 0 <= args[2] <= 15:
                raise SpecError(path, 'random.float digits must be an integer 0-15')
            digits = args[2]
        return ('float', float(args[0]), float(args[1]), digits)
    # choice
    if len(args) != 1 or not isinstance(args[0], (list, tuple)) or not args[0]:
        raise SpecError(path, 'random.choice takes one non-empty list')
    return ('choice', list(args[0]))


def parse_template_string(value, path):
    """Split a string into literal parts and placeholders.

    Returns a list of ``('lit', text)`` and ``('ph', parsed)`` items. A string that is exactly one
    placeholder keeps the placeholder's type when rendered (``"${random.int(1, 9)}"`` gives a number).
    """
    parts = []
    pos = 0
    for match in _PLACEHOLDER_RE.finditer(value):
        if match.start() > pos:
            parts.append(('lit', value[pos:match.start()]))
        parts.append(('ph', parse_placeholder(match.group(1), path)))
        pos = match.end()
    if pos < len(value):
        parts.append(('lit', value[pos:]))
    if '${' in ''.join(p[1] for p in parts if p[0] == 'lit'):
        raise SpecError(path, 'unterminated or nested ${...} placeholder')
    return parts


def validate_template(value, path):
    """Walk a JSON-like body template, checking every placeholder. Returns the template unchanged."""
    if isinstance(value, dict):
        for key, val in value.items():
            if not isinstance(key, str):
                raise SpecError(path, 'JSON object keys must be strings, got %r' % (key,))
            validate_template(val, '%s.%s' % (path, key))
    elif isinstance(value, (list, tuple)):
        for index, val in enumerate(value):
            validate_template(val, '%s[%d]' % (path, index))
    elif isinstance(value, str):
        parse_template_string(value, path)
    elif value is not None and not isinstance(value, (bool, int, float)):
        raise SpecError(path, 'must be JSON data (mapping, list, string, number, boolean or null)')
    return value


# --- sections ---------------------------------------------------------------------------------

def _normalize_request(req, index):
    path = 'spec.requests[%d]' % index
    if not isinstance(req, dict):
        raise SpecError(path, 'must be a mapping')
    req = _given(req)
    _unknown_keys(req, REQUEST_KEYS, path)
    method = _default(REQUEST_FIELDS, req, 'method')
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise SpecError(path + '.method', 'must be one of %s, got %r' % (', '.join(METHODS), method))
    method = method.upper()
    url_path = req.get('path')
    if not isinstance(url_path, str) or not url_path.startswith('/'):
        raise SpecError(path + '.path', 'must be a string starting with "/", got %r' % (url_path,))
    parse_template_string(url_path, path + '.path')
    name = req.get('name') or '%s %s' % (method, url_path)
    if not isinstance(name, str):
        raise SpecError(path + '.name', 'must be a string')
    weight = _number(_default(REQUEST_FIELDS, req, 'weight'), path + '.weight', minimum=0, exclusive_min=True)
    headers = _string_map(req.get('headers'), path + '.headers')
    for key, val in headers.items():
        parse_template_string(val, '%s.headers.%s' % (path, key))
    body = req.get('body')
    if body is not None:
        if method in ('GET', 'HEAD', 'OPTIONS'):
            raise SpecError(path + '.body', 'a %s request cannot have a body' % method)
        validate_template(body, path + '.body')
        if not isinstance(body, str) and not any(h.lower() == 'content-type' for h in headers):
            headers['Content-Type'] = 'application/json'
    expect = req.get('expect') or {}
    if not isinstance(expect, dict):
        raise SpecError(path + '.expect', 'must be a mapping')
    expect = _given(expect)
    _unknown_keys(expect, EXPECT_KEYS, path + '.expect')
    status = _default(EXPECT_FIELDS, expect, 'status')
    statuses = status if isinstance(status, list) else [status]
    if not statuses:
        raise SpecError(path + '.expect.status', 'must not be an empty list')
    checked = []
    for pos, code in enumerate(statuses):
        sub = path + '.expect.status' + ('[%d]' % pos if isinstance(status, list) else '')
        if isinstance(code, str) and code.isdigit():
            code = int(code)
        if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 599:
            raise SpecError(sub, 'must be an integer 100-599, got %r' % (code,))
        if 300 <= code < 400:
            pass  # allowed: a test may assert that a route redirects
        checked.append(code)
    body_contains = expect.get('body_contains')
    if body_contains is not None and (not isinstance(body_contains, str) or not body_contains):
        raise SpecError(path + '.expect.body_contains', 'must be a non-empty string')
    json_keys = expect.get('json_keys') or []
    if not isinstance(json_keys, list):
        raise SpecError(path + '.expect.json_keys', 'must be a list of dotted paths such as "data.id"')
    for pos, key in enumerate(json_keys):
        if not isinstance(key, str) or not _PATH_RE.match(key):
            raise SpecError('%s.expect.json_keys[%d]' % (path, pos),
                            'must be a dotted path such as "data.id" or "items.0.id", got %r' % (key,))
    timeout = req.get('timeout')
    if timeout is not None:
        timeout = format_duration(parse_duration(timeout, path + '.timeout'))
    return {
        'name': name,
        'method': method,
        'path': url_path,
        'weight': float(weight),
        'headers': headers,
        'body': body,
        'expect': {'status': checked, 'body_contains': body_contains, 'json_keys': json_keys},
        'timeout': timeout,
    }


def _normalize_distribution(dist, model, rate, has_stages):
    path = 'spec.distribution'
    if dist is None:
        dist = {'type': 'constant'}
    if isinstance(dist, str):
        dist = {'type': dist}
    if not isinstance(dist, dict):
        raise SpecError(path, 'must be a mapping with a "type"')
    dist = _given(dist)
    kind = dist.get('type')
    if kind not in DISTRIBUTIONS:
        raise SpecError(path + '.type', 'must be one of %s, got %r' % (', '.join(DISTRIBUTIONS), kind))
    _unknown_keys(dist, DISTRIBUTION_KEYS[kind], path)
    out = {'type': kind}
    closed = model == 'closed'
    if closed and 'slice' in dist:
        raise SpecError(path + '.slice', 'only applies to the open model')
    if not closed:
        out['slice'] = parse_duration(dist.get('slice', '1s'), path + '.slice')
        if out['slice'] < 1:
            raise SpecError(path + '.slice', 'must be at least 1s')
    # In the closed model every parameter is a think time in seconds; in the open model the
    # parameters describe the offered arrival rate (requests per second) of each time slice.
    if kind == 'constant':
        if closed:
            out['value'] = _number(dist.get('value', 1.0), path + '.value', minimum=0)
        elif 'value' in dist:
            raise SpecError(path + '.value', 'the open model takes the constant rate from spec.rate')
    elif kind == 'normal':
        if closed:
            if 'mean' not in dist:
                raise SpecError(path + '.mean', 'is required (think time in seconds)')
            out['mean'] = _number(dist['mean'], path + '.mean', minimum=0)
        else:
            if 'mean' in dist:
                raise SpecError(path + '.mean', 'the open model takes the mean rate from spec.rate (or spec.stages)')
        if 'stddev' not in dist:
            raise SpecError(path + '.stddev', 'is required')
        out['stddev'] = _number(dist['stddev'], path + '.stddev', minimum=0)
    elif kind == 'poisson':
        if closed:
            if 'lambda' not in dist:
                raise SpecError(path + '.lambda', 'is required (mean number of units of think time)')
            out['lambda'] = _number(dist['lambda'], path + '.lambda', minimum=0, exclusive_min=True)
            out['unit'] = _number(dist.get('unit', 1.0), path + '.unit', minimum=0, exclusive_min=True)
        else:
            for key in ('lambda', 'unit'):
                if key in dist:
                    raise SpecError(path + '.' + key, 'the open model takes the Poisson mean from spec.rate x slice')
    elif kind == 'uniform':
        for key in ('min', 'max'):
            if key not in dist:
                raise SpecError(path + '.' + key, 'is required')
        out['min'] = _number(dist['min'], path + '.min', minimum=0)
        out['max'] = _number(dist['max'], path + '.max', minimum=0)
        if out['min'] > out['max']:
            raise SpecError(path + '.max', 'must be >= min (%s)' % out['min'])
        if not closed and has_stages:
            raise SpecError(path, 'uniform rates come from min/max and cannot be combined with spec.stages')
    elif kind == 'exponential':
        if closed:
            if ('lambda' in dist) == ('mean' in dist):
                raise SpecError(path, 'give exactly one of lambda (per second) or mean (seconds)')
            if 'lambda' in dist:
                out['mean'] = 1.0 / _number(dist['lambda'], path + '.lambda', minimum=0, exclusive_min=True)
            else:
                out['mean'] = _number(dist['mean'], path + '.mean', minimum=0, exclusive_min=True)
        else:
            for key in ('lambda', 'mean'):
                if key in dist:
                    raise SpecError(path + '.' + key, 'the open model takes the mean rate from spec.rate (or spec.stages)')
    if not closed and kind != 'uniform' and rate is None and not has_stages:
        raise SpecError('spec.rate', 'is required for the open model (requests per second)')
    return out


def _normalize_stages(stages, model):
    path = 'spec.stages'
    if stages is None:
        return []
    if not isinstance(stages, list) or not stages:
        raise SpecError(path, 'must be a non-empty list of {duration, target}')
    out = []
    for index, stage in enumerate(stages):
        sub = '%s[%d]' % (path, index)
        if not isinstance(stage, dict):
            raise SpecError(sub, 'must be a mapping with duration and target')
        stage = _given(stage)
        _unknown_keys(stage, ('duration', 'target'), sub)
        if 'duration' not in stage or 'target' not in stage:
            raise SpecError(sub, 'needs duration and target (%s)' % ('VUs' if model == 'closed' else 'requests per second'))
        duration = parse_duration(stage['duration'], sub + '.duration')
        target = _number(stage['target'], sub + '.target', minimum=0, integer=(model == 'closed'))
        out.append({'duration': duration, 'target': target})
    if sum(s['duration'] for s in out) <= 0:
        raise SpecError(path, 'total duration must be greater than 0')
    return out


def _normalize_thresholds(thresholds):
    path = 'spec.thresholds'
    if thresholds is None:
        return {}
    if not isinstance(thresholds, dict):
        raise SpecError(path, 'must map metric names to lists of expressions')
    out = {}
    for metric, exprs in thresholds.items():
        sub = '%s.%s' % (path, metric)
        if not isinstance(metric, str) or not _METRIC_RE.match(metric):
            raise SpecError(sub, 'is not a metric name such as http_req_duration or http_req_duration{name:ingest}')
        if isinstance(exprs, (str, dict)):
            exprs = [exprs]
        if not isinstance(exprs, list) or not exprs:
            raise SpecError(sub, 'must be a non-empty list of expressions such as "p(95)<500"')
        items = []
        for pos, expr in enumerate(exprs):
            esub = '%s[%d]' % (sub, pos)
            if isinstance(expr, dict):
                _unknown_keys(expr, ('threshold', 'abortOnFail', 'delayAbortEval'), esub)
                if not isinstance(expr.get('threshold'), str) or not expr['threshold'].strip():
                    raise SpecError(esub + '.threshold', 'must be an expression such as "p(95)<500"')
                item = {'threshold': expr['threshold'].strip()}
                if 'abortOnFail' in expr:
                    item['abortOnFail'] = _bool(expr['abortOnFail'], esub + '.abortOnFail')
                if 'delayAbortEval' in expr:
                    item['delayAbortEval'] = format_duration(parse_duration(expr['delayAbortEval'], esub + '.delayAbortEval'))
                items.append(item)
            elif isinstance(expr, str) and re.match(r'^\s*[A-Za-z_()0-9.]+\s*(<=|>=|==|!=|<|>|===)\s*-?[0-9.]+\s*$', expr):
                items.append(expr.strip())
            else:
                raise SpecError(esub, 'must be an expression such as "p(95)<500" or "rate<0.01", got %r' % (expr,))
        out[metric] = items
    return out


def normalize_spec(spec, seed_source=None):
    """Validate ``spec`` and return a normalised copy with defaults filled in.

    ``seed_source`` is a ``random.Random`` used to pick a seed when the spec has none (tests pass
    one to be deterministic); the chosen seed is part of the result so the run can be repeated.
    """
    if not isinstance(spec, dict):
        raise SpecError('spec', 'must be a mapping')
    spec = _given(spec)
    _unknown_keys(spec, SPEC_KEYS, 'spec')

    base_url = spec.get('base_url')
    if not isinstance(base_url, str) or not base_url:
        raise SpecError('spec.base_url', 'is required (e.g. http://127.0.0.1:8000)')
    parts = urlsplit(base_url)
    if parts.scheme not in ('http', 'https') or not parts.hostname:
        raise SpecError('spec.base_url', 'must be an http:// or https:// URL with a host, got %r' % base_url)
    if parts.query or parts.fragment:
        raise SpecError('spec.base_url', 'must not have a query or fragment (put them in requests[].path)')
    try:
        parts.port
    except ValueError:
        raise SpecError('spec.base_url', 'has an invalid port: %r' % base_url)
    base_url = base_url.rstrip('/')

    requests = spec.get('requests')
    if not isinstance(requests, list) or not requests:
        raise SpecError('spec.requests', 'must be a non-empty list of requests')
    reqs = [_normalize_request(req, i) for i, req in enumerate(requests)]
    names = [r['name'] for r in reqs]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise SpecError('spec.requests[%d].name' % i, 'duplicate request name %r' % name)

    model = _default(SPEC_FIELDS, spec, 'model')
    if model not in MODELS:
        raise SpecError('spec.model', 'must be "closed" (VUs with think time) or "open" (arrival rate), got %r' % (model,))

    stages = _normalize_stages(spec.get('stages'), model)
    duration = None
    if 'duration' in spec:
        duration = parse_duration(spec['duration'], 'spec.duration')
        if duration <= 0:
            raise SpecError('spec.duration', 'must be greater than 0')
        if stages:
            raise SpecError('spec.duration', 'give either duration or stages, not both')
    if not stages and duration is None:
        raise SpecError('spec.duration', 'is required when spec.stages is not given')

    rate = spec.get('rate')
    if rate is not None:
        if model == 'closed':
            raise SpecError('spec.rate', 'only applies to the open model (closed model: use vus and distribution)')
        if stages:
            raise SpecError('spec.rate', 'give either rate or stages in the open model, not both')
        rate = _number(rate, 'spec.rate', minimum=0, exclusive_min=True)

    vus = _number(_default(SPEC_FIELDS, spec, 'vus'), 'spec.vus', minimum=1, integer=True)
    max_vus = spec.get('max_vus')
    if max_vus is not None:
        if model == 'closed':
            raise SpecError('spec.max_vus', 'only applies to the open model (closed model: vus or stages)')
        max_vus = _number(max_vus, 'spec.max_vus', minimum=1, integer=True)
        if max_vus < vus:
            raise SpecError('spec.max_vus', 'must be >= vus (%d)' % vus)
    elif model == 'open':
        max_vus = vus

    distribution = _normalize_distribution(spec.get('distribution'), model, rate, bool(stages))

    seed = spec.get('seed')
    if seed is None:
        seed = (seed_source or random.SystemRandom()).randint(1, 2 ** 31 - 1)
    seed = _number(seed, 'spec.seed', minimum=0, maximum=2 ** 32 - 1, integer=True)

    tags = _string_map(spec.get('tags'), 'spec.tags')
    for key in tags:
        if not _TAG_RE.match(key):
            raise SpecError('spec.tags.%s' % key, 'tag names must be identifiers')

    timeout = format_duration(parse_duration(_default(SPEC_FIELDS, spec, 'timeout'), 'spec.timeout'))
    graceful_stop = parse_duration(_default(SPEC_FIELDS, spec, 'graceful_stop'), 'spec.graceful_stop')
    name = _default(SPEC_FIELDS, spec, 'name')
    if not isinstance(name, str) or not name:
        raise SpecError('spec.name', 'must be a non-empty string')

    total = sum(s['duration'] for s in stages) if stages else duration
    return {
        'name': name,
        'base_url': base_url,
        'requests': reqs,
        'model': model,
        'distribution': distribution,
        'vus': vus,
        'max_vus': max_vus,
        'rate': rate,
        'duration': duration,
        'stages': stages,
        'total_duration': total,
        'thresholds': _normalize_thresholds(spec.get('thresholds')),
        'seed': seed,
        'tags': tags,
        'follow_redirects': _bool(_default(SPEC_FIELDS, spec, 'follow_redirects'), 'spec.follow_redirects'),
        'timeout': timeout,
        'graceful_stop': graceful_stop,
        'insecure_skip_tls_verify': _bool(_default(SPEC_FIELDS, spec, 'insecure_skip_tls_verify'),
                                          'spec.insecure_skip_tls_verify'),
    }
