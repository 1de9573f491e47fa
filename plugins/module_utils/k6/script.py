# -*- coding: utf-8 -*-
# Copyright: dsa.platform developers
# MIT License (see LICENSE or https://opensource.org/licenses/MIT)
"""Render a k6 script from a spec normalised by ``k6_spec.normalize_spec``.

All randomness lives in the generated JavaScript and comes from one seeded generator
(``SAMPLER_JS``), so the same sampler code is what the statistical unit tests run through the
real k6 binary (``render_sampler_probe``).

Semantics (see the k6_run module documentation for the user-facing version):

closed model
    ``constant-vus`` (or ``ramping-vus`` with ``stages``). Each VU loops: pick a request by
    weight, send it, check it, then sleep a think time drawn from the distribution (seconds).
open model
    ``ramping-arrival-rate``. The run is cut into slices (``distribution.slice``, default 1 s).
    For every slice the number of arrivals is drawn once, at init, from the seeded generator:
    constant = rate x slice; poisson = Poisson(rate x slice); normal = N(rate, stddev) x slice
    truncated at 0; uniform = U(min, max) x slice; exponential = Exp(mean rate) x slice, all
    rounded to whole arrivals. Within a slice k6 spaces the arrivals evenly; each arrival is one
    request, started whether or not earlier ones have finished (no coordinated omission).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.dsa.platform.plugins.module_utils.k6.spec import (
    format_duration,
    parse_template_string,
)

TREND_STATS = ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)']

# One seeded PRNG and the samplers. Plain ES5.1-compatible code: k6 (sobek) runs it as is.
SAMPLER_JS = r"""
// mulberry32: 32-bit state, period 2^32, good enough statistical quality for load shaping.
function dsaMix(a, b) {
  var h = (a ^ Math.imul(b | 0, 0x9E3779B1)) | 0;
  h = Math.imul(h ^ (h >>> 16), 0x85EBCA6B);
  h = Math.imul(h ^ (h >>> 13), 0xC2B2AE35);
  return (h ^ (h >>> 16)) >>> 0;
}
function dsaRng(seed) {
  var a = seed >>> 0;
  var spare = null;
  var R = {};
  R.next = function () {  // uniform in [0, 1)
    a = (a + 0x6D2B79F5) | 0;
    var t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  R.int = function (lo, hi) { return lo + Math.floor(R.next() * (hi - lo + 1)); };
  R.float = function (lo, hi, digits) {
    var v = lo + R.next() * (hi - lo);
    if (digits === null || digits === undefined) { return v; }
    var f = Math.pow(10, digits);
    return Math.round(v * f) / f;
  };
  R.choice = function (items) { return items[Math.floor(R.next() * items.length)]; };
  R.uuid = function () {  // RFC 4122 version 4 layout from the seeded stream
    var hex = '';
    for (var i = 0; i < 32; i++) {
      var n = Math.floor(R.next() * 16);
      if (i === 12) { n = 4; }
      if (i === 16) { n = (n & 0x3) | 0x8; }
      hex += n.toString(16);
    }
    return hex.substr(0, 8) + '-' + hex.substr(8, 4) + '-' + hex.substr(12, 4) + '-' + hex.substr(16, 4) + '-' + hex.substr(20);
  };
  R.stdNormal = function () {  // Box-Muller, both values used
    if (spare !== null) { var s = spare; spare = null; return s; }
    var u1 = 0;
    while (u1 === 0) { u1 = R.next(); }
    var u2 = R.next();
    var r = Math.sqrt(-2 * Math.log(u1));
    spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  };
  // Normal(mean, stddev) truncated at 0 by rejection: negative draws are redrawn, so the
  // result follows the normal density restricted to [0, inf) (mean >= 0 keeps acceptance >= 50%).
  R.normal = function (mean, stddev) {
    if (stddev <= 0) { return Math.max(0, mean); }
    for (;;) { var x = mean + stddev * R.stdNormal(); if (x >= 0) { return x; } }
  };
  R.uniform = function (lo, hi) { return lo + R.next() * (hi - lo); };
  R.exponential = function (mean) { return -mean * Math.log(1 - R.next()); };  // inversion
  // Poisson(lambda): Knuth's product method below 10, Hoermann's PTRS (transformed rejection) above.
  R.poisson = function (lam) {
    if (lam <= 0) { return 0; }
    if (lam < 10) {
      var L = Math.exp(-lam), k = 0, p = 1;
      do { k++; p *= R.next(); } while (p > L);
      return k - 1;
    }
    var slam = Math.sqrt(lam), loglam = Math.log(lam);
    var b = 0.931 + 2.53 * slam, aa = -0.059 + 0.02483 * b;
    var invalpha = 1.1239 + 1.1328 / (b - 3.4), vr = 0.9277 - 3.6224 / (b - 2);
    for (;;) {
      var U = R.next() - 0.5, V = R.next();
      var us = 0.5 - Math.abs(U);
      var kk = Math.floor((2 * aa / us + b) * U + lam + 0.43);
      if (us >= 0.07 && V <= vr) { return kk; }
      if (kk < 0 || (us < 0.013 && V > us)) { continue; }
      if (Math.log(V) + Math.log(invalpha) - Math.log(aa / (us * us) + b) <= -lam + kk * loglam - dsaLogGamma(kk + 1)) {
        return kk;
      }
    }
  };
  // Draw from a normalised distribution spec (see k6_spec): closed model values are seconds.
  R.sample = function (d) {
    switch (d.type) {
      case 'constant': return d.value;
      case 'normal': return R.normal(d.mean, d.stddev);
      case 'poisson': return R.poisson(d.lambda) * d.unit;
      case 'uniform': return R.uniform(d.min, d.max);
      case 'exponential': return R.exponential(d.mean);
    }
    throw new Error('unknown distribution ' + d.type);
  };
  return R;
}
function dsaLogGamma(x) {  // Stirling series with upward recursion, |error| < 1e-10 for x > 0
  var shift = 0;
  while (x < 7) { shift += Math.log(x); x += 1; }
  var x2 = 1 / (x * x);
  var series = (((-1 / 1680 * x2 + 1 / 1260) * x2 - 1 / 360) * x2 + 1 / 12) / x;
  return (x - 0.5) * Math.log(x) - x + 0.5 * Math.log(2 * Math.PI) + series - shift;
}
// Open model: arrivals per slice, drawn once per run from the run seed (identical in every VU).
function dsaSchedule(cfg) {
  var R = dsaRng(dsaMix(cfg.seed, 0x5EED));
  var d = cfg.distribution, slice = d.slice, total = cfg.total_duration;
  var n = Math.ceil(total / slice - 1e-9), counts = [], means = [];
  for (var i = 0; i < n; i++) {
    var mid = Math.min(total, (i + 0.5) * slice);
    var mean = cfg.stages.length ? dsaStageTarget(cfg.stages, mid) : cfg.rate;
    var perSlice;
    switch (d.type) {
      case 'constant': perSlice = mean * slice; break;
      case 'poisson': perSlice = R.poisson(mean * slice); break;
      case 'normal': perSlice = R.normal(mean, d.stddev) * slice; break;
      case 'uniform': perSlice = R.uniform(d.min, d.max) * slice; break;
      case 'exponential': perSlice = R.exponential(mean) * slice; break;
      default: throw new Error('unknown distribution ' + d.type);
    }
    counts.push(Math.round(perSlice));
    means.push(mean);
  }
  return { slice: slice, counts: counts, means: means };
}
// Linear interpolation of ramp stages ({duration s, target}) at time t, starting from 0.
function dsaStageTarget(stages, t) {
  var start = 0, from = 0;
  for (var i = 0; i < stages.length; i++) {
    var s = stages[i];
    if (t <= start + s.duration) {
      return s.duration > 0 ? from + (s.target - from) * (t - start) / s.duration : s.target;
    }
    start += s.duration; from = s.target;
  }
  return from;
}
"""

SCRIPT_TEMPLATE = r"""// Generated by dsa.platform.k6_run. Do not edit: re-render from the spec instead.
// spec name: %(name_comment)s
import http from 'k6/http';
import { check, sleep } from 'k6';

const CFG = %(cfg)s;
const SUMMARY_PATH = __ENV.DSA_K6_SUMMARY || %(summary_path)s;
%(sampler)s
const SCHEDULE = CFG.model === 'open' ? dsaSchedule(CFG) : null;

function openStages() {
  var st = [], rest = CFG.total_duration;
  for (var i = 0; i < SCHEDULE.counts.length; i++) {
    var dur = Math.min(SCHEDULE.slice, rest);
    rest -= dur;
    st.push({ duration: '0s', target: SCHEDULE.counts[i] });
    st.push({ duration: Math.round(dur * 1000) + 'ms', target: SCHEDULE.counts[i] });
  }
  return st;
}

function scenario() {
  if (CFG.model === 'open') {
    return {
      executor: 'ramping-arrival-rate',
      startRate: SCHEDULE.counts[0],
      timeUnit: %(time_unit)s,
      preAllocatedVUs: CFG.vus,
      maxVUs: CFG.max_vus,
      stages: openStages(),
      gracefulStop: %(graceful_stop)s,
    };
  }
  if (CFG.stages.length) {
    return {
      executor: 'ramping-vus',
      startVUs: 0,
      stages: CFG.stages.map(function (s) { return { duration: Math.round(s.duration * 1000) + 'ms', target: s.target }; }),
      gracefulRampDown: %(graceful_stop)s,
      gracefulStop: %(graceful_stop)s,
    };
  }
  return { executor: 'constant-vus', vus: CFG.vus, duration: %(duration)s, gracefulStop: %(graceful_stop)s };
}

export const options = {
  scenarios: { main: scenario() },
  thresholds: %(thresholds)s,
  summaryTrendStats: %(trend_stats)s,
  maxRedirects: %(max_redirects)d,
  insecureSkipTLSVerify: %(insecure)s,
  tags: %(tags)s,
};

// --- requests -------------------------------------------------------------------------------
const BASE = %(base_url)s;
const REQUESTS = [
%(requests)s
];
const TOTAL_WEIGHT = REQUESTS.reduce(function (a, r) { return a + r.weight; }, 0);

function dsaJsonHas(body, path) {
  var cur = body, parts = path.split('.');
  for (var i = 0; i < parts.length; i++) {
    if (cur === null || typeof cur !== 'object' || !(parts[i] in cur)) { return false; }
    cur = cur[parts[i]];
  }
  return true;
}

function dsaBodyOk(req, res) {
  if (req.bodyContains !== null) {
    if (typeof res.body !== 'string' || res.body.indexOf(req.bodyContains) < 0) { return false; }
  }
  if (req.jsonKeys.length) {
    var parsed;
    try { parsed = JSON.parse(res.body); } catch (e) { return false; }
    for (var i = 0; i < req.jsonKeys.length; i++) {
      if (!dsaJsonHas(parsed, req.jsonKeys[i])) { return false; }
    }
  }
  return true;
}

let R = null;  // per-VU generator, created on the VU's first iteration

function pick() {
  var x = R.next() * TOTAL_WEIGHT;
  for (var i = 0; i < REQUESTS.length; i++) {
    x -= REQUESTS[i].weight;
    if (x < 0) { return REQUESTS[i]; }
  }
  return REQUESTS[REQUESTS.length - 1];
}

export default function () {
  if (R === null) { R = dsaRng(dsaMix(CFG.seed, __VU)); }
  var req = pick();
  var built = req.build(R);
  var res = http.request(req.method, BASE + built.path, built.body, {
    headers: built.headers,
    tags: { name: req.name },
    timeout: req.timeout,
    responseCallback: req.callback,
    responseType: req.needsBody ? 'text' : 'none',
  });
  var checks = {};
  checks[req.name + ': status in ' + JSON.stringify(req.status)] = function (r) { return req.status.indexOf(r.status) >= 0; };
  if (req.needsBody) {
    checks[req.name + ': body matches'] = function (r) { return dsaBodyOk(req, r); };
  }
  check(res, checks, { name: req.name });
  if (CFG.model === 'closed') {
    sleep(R.sample(CFG.distribution));
  }
}

export function handleSummary(data) {
  data.dsa = {
    version: 1,
    name: CFG.name,
    seed: CFG.seed,
    model: CFG.model,
    distribution: CFG.distribution,
    tags: CFG.tags,
    schedule: SCHEDULE,
  };
  var out = {};
  out[SUMMARY_PATH] = JSON.stringify(data, null, 1);
  var reqs = data.metrics.http_reqs ? data.metrics.http_reqs.values.count : 0;
  out.stdout = 'dsa.platform k6_run: ' + reqs + ' requests, summary in ' + SUMMARY_PATH + '\n';
  return out;
}
"""


def _js(value):
    """JSON is valid JavaScript for data; escape the characters that could end a script context."""
    return json.dumps(value, sort_keys=True).replace('</', '<\\/').replace('\u2028', '\\u2028').replace('\u2029', '\\u2029')


def _placeholder_js(parsed, url_encode=False):
    kind = parsed[0]
    if kind == 'uuid':
        expr = 'R.uuid()'
    elif kind == 'now':
        expr = 'new Date().toISOString()'
    elif kind == 'vu':
        expr = '__VU'
    elif kind == 'iter':
        expr = '__ITER'
    elif kind == 'int':
        expr = 'R.int(%d, %d)' % (parsed[1], parsed[2])
    elif kind == 'float':
        expr = 'R.float(%s, %s, %s)' % (_js(parsed[1]), _js(parsed[2]), _js(parsed[3]))
    elif kind == 'choice':
        expr = 'R.choice(%s)' % _js(parsed[1])
    else:  # pragma: no cover - parse_placeholder rejects anything else
        raise ValueError(kind)
    if url_encode:
        expr = 'encodeURIComponent(String(%s))' % expr
    return expr


def string_template_js(value, path, url_encode=False):
    """JS expression for a template string. A lone placeholder keeps its type unless url_encode."""
    parts = parse_template_string(value, path)
    if not parts:
        return _js('')
    if len(parts) == 1 and parts[0][0] == 'ph' and not url_encode:
        return _placeholder_js(parts[0][1])
    if len(parts) == 1 and parts[0][0] == 'lit':
        return _js(parts[0][1])
    pieces = []
    for kind, item in parts:
        if kind == 'lit':
            pieces.append(_js(item))
        else:
            pieces.append('String(%s)' % _placeholder_js(item, url_encode))
    if parts[0][0] != 'lit':
        pieces.insert(0, "''")
    return '(' + ' + '.join(pieces) + ')'


def template_js(value, path):
    """JS expression that builds the JSON value described by a body template."""
    if isinstance(value, dict):
        items = ['%s: %s' % (_js(k), template_js(v, '%s.%s' % (path, k))) for k, v in value.items()]
        return '{' + ', '.join(items) + '}'
    if isinstance(value, (list, tuple)):
        return '[' + ', '.join(template_js(v, '%s[%d]' % (path, i)) for i, v in enumerate(value)) + ']'
    if isinstance(value, str):
        return string_template_js(value, path)
    return _js(value)


def has_placeholders(value):
    if isinstance(value, dict):
        return any(has_placeholders(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(has_placeholders(v) for v in value)
    return isinstance(value, str) and '${' in value


def _request_js(req, index):
    path = 'spec.requests[%d]' % index
    url_js = string_template_js(req['path'], path + '.path', url_encode=True)
    headers_js = '{' + ', '.join('%s: %s' % (_js(k), string_template_js(v, '%s.headers.%s' % (path, k)))
                                 for k, v in sorted(req['headers'].items())) + '}'
    body = req['body']
    if body is None:
        body_js = 'null'
    elif isinstance(body, str):
        body_js = string_template_js(body, path + '.body')
        if body_js.startswith('R.') or body_js in ('__VU', '__ITER'):
            body_js = 'String(%s)' % body_js
    else:
        body_js = 'JSON.stringify(%s)' % template_js(body, path + '.body')
    if not has_placeholders(req['path']) and not has_placeholders(req['headers']) and not has_placeholders(body):
        # Static request: build once at init instead of on every iteration.
        build = '(function () { var b = {path: %s, headers: %s, body: %s}; return function (R) { return b; }; })()' % (
            url_js, headers_js, body_js)
    else:
        build = 'function (R) { return {path: %s, headers: %s, body: %s}; }' % (url_js, headers_js, body_js)
    expect = req['expect']
    needs_body = bool(expect['body_contains']) or bool(expect['json_keys'])
    fields = [
        'name: %s' % _js(req['name']),
        'method: %s' % _js(req['method']),
        'weight: %s' % _js(req['weight']),
        'status: %s' % _js(expect['status']),
        'callback: http.expectedStatuses(%s)' % ', '.join(str(s) for s in expect['status']),
        'bodyContains: %s' % _js(expect['body_contains']),
        'jsonKeys: %s' % _js(expect['json_keys']),
        'needsBody: %s' % ('true' if needs_body else 'false'),
        'timeout: %s' % _js(req['timeout'] or None),
        'build: %s' % build,
    ]
    return '  {\n    ' + ',\n    '.join(fields) + '\n  }'


def _config(spec):
    return {
        'name': spec['name'],
        'model': spec['model'],
        'distribution': spec['distribution'],
        'seed': spec['seed'],
        'vus': spec['vus'],
        'max_vus': spec['max_vus'],
        'rate': spec['rate'],
        'stages': spec['stages'],
        'total_duration': spec['total_duration'],
        'tags': spec['tags'],
    }


def render_script(spec, summary_path):
    """Return the k6 script for a normalised spec. ``summary_path`` is where handleSummary writes."""
    reqs = [dict(r, timeout=r['timeout'] or spec['timeout']) for r in spec['requests']]
    return SCRIPT_TEMPLATE % {
        'name_comment': spec['name'].replace('\n', ' '),
        'cfg': _js(_config(spec)),
        'summary_path': _js(summary_path),
        'sampler': SAMPLER_JS,
        'time_unit': _js(format_duration(spec['distribution'].get('slice', 1.0))),
        'graceful_stop': _js(format_duration(spec['graceful_stop'])),
        'duration': _js(format_duration(spec['duration'] or spec['total_duration'])),
        'thresholds': _js(spec['thresholds']),
        'trend_stats': _js(TREND_STATS),
        'max_redirects': 10 if spec['follow_redirects'] else 0,
        'insecure': 'true' if spec['insecure_skip_tls_verify'] else 'false',
        'tags': _js(spec['tags']),
        'base_url': _js(spec['base_url']),
        'requests': ',\n'.join(_request_js(r, i) for i, r in enumerate(reqs)),
    }


PROBE_TEMPLATE = r"""// Sampler probe generated by dsa.platform (no HTTP): draws samples and reports their moments.
%(sampler)s
const OUT = %(out)s;
export const options = { vus: 1, iterations: 1 };
export default function () {}
export function handleSummary() {
  var d = %(dist)s, n = %(n)d, R = dsaRng(dsaMix(%(seed)d, %(vu)d));
  var sum = 0, sumsq = 0, min = Infinity, max = -Infinity, first = [];
  for (var i = 0; i < n; i++) {
    var x = R.sample(d);
    sum += x; sumsq += x * x;
    if (x < min) { min = x; }
    if (x > max) { max = x; }
    if (i < 20) { first.push(x); }
  }
  var mean = sum / n;
  var res = { n: n, mean: mean, variance: (sumsq - n * mean * mean) / (n - 1), min: min, max: max, first: first };
  if (%(schedule)s) { res.schedule = dsaSchedule(%(schedule_cfg)s); }
  var out = {}; out[OUT] = JSON.stringify(res); out.stdout = ''; return out;
}
"""


def render_sampler_probe(distribution, n, seed, out_path, vu=1, schedule_cfg=None):
    """A k6 script with no HTTP that draws ``n`` samples (closed-model semantics) and writes
    ``{n, mean, variance, min, max, first}`` (plus the open-model schedule for ``schedule_cfg``) to
    ``out_path``. Used by the unit tests to check the real sampler code in the real k6."""
    return PROBE_TEMPLATE % {
        'sampler': SAMPLER_JS,
        'out': _js(out_path),
        'dist': _js(distribution),
        'n': n,
        'seed': seed,
        'vu': vu,
        'schedule': 'true' if schedule_cfg else 'false',
        'schedule_cfg': _js(schedule_cfg or {}),
    }
