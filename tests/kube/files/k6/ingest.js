// Light, steady ingestion for the pod-kill test (tests/kube/test_workloads_node.py): an open model
// (constant arrival rate) POSTing one reading per request to /api/v1/readings. Every reading has
// its own natural key (device, measured_at = T0 + iteration seconds), and every answer is written
// to the console log as one JSON line: {"ack": measured_at} for a 201, {"fail": status, ...}
// otherwise, so that the test can look for exactly the acknowledged readings in the database.
// Env: BASE, KEY (write scope), DEVICE, RATE (requests/s), DURATION, OUT (summary JSON).
import http from 'k6/http';
import exec from 'k6/execution';

const T0 = Date.UTC(2026, 2, 1);
const HEADERS = { 'Content-Type': 'application/json', 'X-API-Key': __ENV.KEY };

export const options = {
  discardResponseBodies: true,
  scenarios: {
    steady: {
      executor: 'constant-arrival-rate',
      rate: parseInt(__ENV.RATE), timeUnit: '1s', duration: __ENV.DURATION,
      preAllocatedVUs: 10, maxVUs: 40,
    },
  },
};

export default function () {
  const at = new Date(T0 + exec.scenario.iterationInTest * 1000).toISOString();
  const body = JSON.stringify({
    device_id: __ENV.DEVICE, measured_at: at, temperature_current: 21.5, temperature_desired: 22,
    humidity: 45, pressure: 1013, air_quality: 20, voltage: 230, current: 1.5, power: 345,
    is_on: true, status: 'cooling', location: 'localkube',
  });
  // A short timeout: a request stuck on a killed pod counts as failed, not as a long stall.
  const res = http.post(`${__ENV.BASE}/api/v1/readings`, body, { headers: HEADERS, timeout: '5s' });
  if (res.status === 201) {
    console.log(JSON.stringify({ ack: at, t: Date.now() }));
  } else {
    console.log(JSON.stringify({ fail: res.status, at, t: Date.now(), error: res.error || '' }));
  }
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
