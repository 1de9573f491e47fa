// Shaped like the reference k6 workload: a closed model where every virtual user requests
// GET /iot/ (trailing slash, k6's default request headers) and then sleeps |N(1, 0.2)| seconds.
// Driven by test_iot_api_reference_k6.py through env vars: BASE, VUS, DURATION, ROWS, NODE,
// POD, OUT (where handleSummary writes the summary as JSON).
import http from 'k6/http';
import { check, sleep } from 'k6';

const ROWS = parseInt(__ENV.ROWS);
const URL = `${__ENV.BASE}/iot/`;

export const options = {
  vus: parseInt(__ENV.VUS),
  duration: __ENV.DURATION,
  gracefulStop: '5s',
};

// Box-Muller: one draw of N(mean, sd); Math.random() is in [0, 1), so u is kept above 0.
function normal(mean, sd) {
  const u = 1 - Math.random();
  const v = Math.random();
  return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

export default function () {
  const res = http.get(URL);
  check(res, {
    'status 200': (r) => r.status === 200,
    'answered directly (no redirect)': (r) => r.url === URL,
    'envelope names the replica': (r) => {
      const body = r.json();
      return body.node_name === __ENV.NODE && body.pod_name === __ENV.POD;
    },
    'result has the rows, newest first': (r) => {
      const rows = r.json('result');
      return Array.isArray(rows) && rows.length === ROWS && rows[0].id === ROWS
        && rows[ROWS - 1].id === 1;
    },
  });
  sleep(Math.abs(normal(1, 0.2)));
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
