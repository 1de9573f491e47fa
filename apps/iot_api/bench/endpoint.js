// One endpoint at a constant arrival rate (open model). Driven by run.py through env vars:
//   BASE, PATH_TPL, METHOD, RATE, DURATION, VUS, EXPECT, HEADERS (JSON), BODY_FILE, OFFSET, OUT
// PATH_TPL may contain @DEV@ (a random seeded device); BODY_FILE holds a JSON body template
// whose @P@ placeholders are replaced by a per-request unique "YYYY-MM-DDTHH" prefix, so
// every POSTed reading has a new natural key (device_id, measured_at).
import http from 'k6/http';
import exec from 'k6/execution';
import { check } from 'k6';

const RATE = parseInt(__ENV.RATE);
const VUS = parseInt(__ENV.VUS || '100');
const HEADERS = JSON.parse(__ENV.HEADERS || '{}');
const EXPECT = parseInt(__ENV.EXPECT || '200');
const DEVICES = parseInt(__ENV.DEVICES || '100');
const OFFSET = parseInt(__ENV.OFFSET || '0');
const PARTS = __ENV.BODY_FILE ? open(__ENV.BODY_FILE).split('@P@') : null;

export const options = {
  discardResponseBodies: true,
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
  scenarios: {
    step: {
      executor: 'constant-arrival-rate',
      rate: RATE, timeUnit: '1s', duration: __ENV.DURATION || '10s',
      preAllocatedVUs: Math.min(VUS, Math.max(10, Math.ceil(RATE / 20))), maxVUs: VUS,
    },
  },
};

const DAY0 = Date.UTC(2001, 0, 1);

function prefix(k) {
  const d = new Date(DAY0 + Math.floor(k / 24) * 86400000);
  const h = k % 24;
  return d.toISOString().slice(0, 10) + 'T' + (h < 10 ? '0' : '') + h;
}

export default function () {
  let path = __ENV.PATH_TPL;
  if (path.indexOf('@DEV@') >= 0) {
    const n = Math.floor(Math.random() * DEVICES);
    path = path.replace('@DEV@', 'dev-' + ('00' + n).slice(-3));
  }
  const params = { headers: HEADERS };
  let res;
  if (PARTS) {
    const body = PARTS.join(prefix(OFFSET + exec.scenario.iterationInTest));
    res = http.request(__ENV.METHOD || 'POST', __ENV.BASE + path, body, params);
  } else {
    res = http.request(__ENV.METHOD || 'GET', __ENV.BASE + path, null, params);
  }
  check(res, { 'expected status': (r) => r.status === EXPECT });
}

export function handleSummary(data) {
  const m = data.metrics;
  const out = {
    rate_target: RATE,
    reqs: m.http_reqs ? m.http_reqs.values.count : 0,
    rate: m.http_reqs ? m.http_reqs.values.rate : 0,
    dropped: m.dropped_iterations ? m.dropped_iterations.values.count : 0,
    checks_ok: m.checks ? m.checks.values.rate : 0,
    p50: m.http_req_duration ? m.http_req_duration.values.med : null,
    p95: m.http_req_duration ? m.http_req_duration.values['p(95)'] : null,
    p99: m.http_req_duration ? m.http_req_duration.values['p(99)'] : null,
    max: m.http_req_duration ? m.http_req_duration.values.max : null,
  };
  return { [__ENV.OUT]: JSON.stringify(out) };
}
