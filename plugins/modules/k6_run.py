#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dsa.platform developers
# MIT License (see LICENSE or https://opensource.org/licenses/MIT)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: k6_run
short_description: Run one k6 load test from a declarative spec and return its results
version_added: 0.1.0
description:
  - Validates a declarative test I(spec), renders a k6 script from it, runs the C(k6) binary
    (always with C(--no-usage-report)) and returns the parsed results that the script's
    C(handleSummary()) writes.
  - Before starting k6 it checks that the target accepts TCP connections, so an unreachable
    target fails fast with its URL in the message.
  - All randomness (request choice, body fields, think times, arrival rates) comes from one
    seeded generator inside the script (mulberry32, one stream per VU derived from I(spec.seed)
    and the VU number), so a run can be repeated with the same seed.
  - "Closed model (I(spec.model=closed)): C(constant-vus) (or C(ramping-vus) when I(spec.stages)
    is given). Each VU loops: pick a request by weight, send it, check it, then sleep a think time
    drawn from I(spec.distribution), in seconds. This is how the seed pipeline ran; note that a
    slow server slows the VUs down too (coordinated omission), so it under-loads a slow system."
  - "Open model (I(spec.model=open)): C(ramping-arrival-rate). The run is cut into slices of
    I(spec.distribution.slice) (default 1s). The number of arrivals of each slice is drawn once,
    at script start, from the distribution around the mean rate (I(spec.rate) in requests per
    second, or the linear ramp of I(spec.stages) at the slice midpoint), rounded to whole
    arrivals. Within a slice k6 spaces the arrivals evenly. Every arrival is one request started
    whether or not earlier requests finished: the honest measure of capacity. When k6 runs out of
    VUs (I(spec.max_vus)) it drops arrivals and reports them as C(dropped_iterations)."
  - "Distributions, closed model (think time after each request, seconds):
    C(constant) = I(value) (default 1);
    C(normal) = Normal(I(mean), I(stddev)) truncated at 0 by redrawing negative values (mean
    slightly above I(mean) when I(stddev) is not small against I(mean));
    C(poisson) = Poisson(I(lambda)) x I(unit) (I(unit) seconds per count, default 1), mean
    I(lambda) x I(unit), variance I(lambda) x I(unit)^2;
    C(uniform) = Uniform(I(min), I(max));
    C(exponential) = Exponential with I(mean) seconds or rate I(lambda) per second (mean 1/lambda)."
  - "Distributions, open model (arrivals per slice of S seconds around mean rate r):
    C(constant) = r x S; C(poisson) = Poisson(r x S), the counts of a Poisson arrival process;
    C(normal) = Normal(r, I(stddev)) truncated at 0, times S (noisy rate);
    C(uniform) = Uniform(I(min), I(max)) x S (I(spec.rate) not used, no I(spec.stages));
    C(exponential) = Exponential(mean r) x S (bursts: most slices below r, a few far above)."
  - "Request templates: I(path), header values and string values anywhere in I(body) may contain
    the placeholders '${uuid}', '${now}' (ISO 8601 time), '${vu}', '${iter}',
    '${random.int(a, b)}' (a to b inclusive), '${random.float(a, b)}' or '${random.float(a, b, digits)}',
    and '${random.choice([v1, v2, ...])}'. A string that is exactly one placeholder keeps the
    value's type (a number stays a number in the JSON body); placeholders in I(path) are
    URL-encoded. The dollar-brace syntax is used instead of double curly braces so that Ansible
    does not template them."
  - Redirects are not followed unless I(spec.follow_redirects=true), so a route that redirects
    (for example to C(/)) fails its status check instead of passing as success.
author:
  - dsa.platform developers (@dsa-platform)
options:
  spec:
    description:
      - "The test to run. Validation errors name the field, for example
        C(spec.requests[2].expect.status: must be an integer 100-599)."
    type: dict
    required: true
    suboptions:
      name:
        description: Name of the test, stored in the summary.
        type: str
        default: k6
      base_url:
        description: C(http://) or C(https://) URL that every request path is appended to.
        type: str
        required: true
      requests:
        description: Weighted list of requests; each iteration picks one by weight.
        type: list
        elements: dict
        required: true
        suboptions:
          name:
            description: Name used as the C(name) tag and in check names. Defaults to C(METHOD path).
            type: str
          method:
            description: HTTP method.
            type: str
            default: GET
            choices: [GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS]
          path:
            description: Path (and query) starting with C(/); may contain placeholders.
            type: str
            required: true
          weight:
            description: Relative weight (> 0).
            type: float
            default: 1
          headers:
            description: Header names to values; values may contain placeholders.
            type: dict
          body:
            description:
              - JSON body template (mapping or list, sent as JSON with C(Content-Type application/json)
                unless a content type is given) or a raw string; may contain placeholders.
            type: raw
          timeout:
            description: Request timeout (k6 duration). Defaults to I(spec.timeout).
            type: str
          expect:
            description: What makes a response a success. Every request gets a status check.
            type: dict
            suboptions:
              status:
                description: Expected status code or list of codes (100-599). Also decides C(http_req_failed).
                type: raw
                default: 200
              body_contains:
                description: Substring the response body must contain.
                type: str
              json_keys:
                description: Dotted paths (C(data.id), C(items.0.id)) that must exist in the JSON response.
                type: list
                elements: str
      model:
        description: C(closed) (VUs with think time) or C(open) (arrival rate).
        type: str
        default: closed
        choices: [closed, open]
      distribution:
        description:
          - Shapes think times (closed model) or arrivals per slice (open model); see the description.
          - Constant (closed model, 1 s think time) when not set.
        type: dict
        suboptions:
          type:
            description: Distribution.
            type: str
            choices: [constant, normal, poisson, uniform, exponential]
            required: true
          value:
            description: C(constant), closed model only; think time in seconds (1 when not set).
            type: float
          mean:
            description: C(normal) (closed model) or C(exponential) (closed model), seconds.
            type: float
          stddev:
            description: C(normal); seconds (closed model) or requests per second (open model).
            type: float
          lambda:
            description: C(poisson) (closed model) mean count; C(exponential) (closed model) rate per second.
            type: float
          unit:
            description: C(poisson), closed model; seconds per count (1 when not set).
            type: float
          min:
            description: C(uniform); seconds (closed model) or requests per second (open model).
            type: float
          max:
            description: C(uniform); seconds (closed model) or requests per second (open model).
            type: float
          slice:
            description: Open model only; length of a time slice with one drawn rate (k6 duration, at least 1s; 1s when not set).
            type: str
      vus:
        description: Closed model, the number of VUs; open model, the pre-allocated VUs.
        type: int
        default: 10
      max_vus:
        description: Open model only; most VUs k6 may use to keep up with the arrival rate. Defaults to I(vus).
        type: int
      rate:
        description: Open model; mean arrival rate in requests per second (not with I(stages)).
        type: float
      duration:
        description: Test duration (k6 duration such as C(30s), C(5m)); required unless I(stages) is given.
        type: str
      stages:
        description:
          - Ramp stages. Closed model, target VUs (C(ramping-vus)); open model, target mean rate in
            requests per second, linear between stages (starting from 0).
        type: list
        elements: dict
        suboptions:
          duration:
            description: Stage length (k6 duration).
            type: str
            required: true
          target:
            description: VUs (closed model) or requests per second (open model) at the end of the stage.
            type: float
            required: true
      thresholds:
        description:
          - k6 thresholds, metric name to list of expressions, for example
            C(http_req_duration) with C(["p(95)<500"]) and C(http_req_failed) with C(["rate<0.01"]).
          - An expression can also be a mapping with C(threshold), C(abortOnFail), C(delayAbortEval).
        type: dict
      seed:
        description: Seed of the generator (0 to 2^32-1). Chosen at random and returned when not given.
        type: int
      tags:
        description: Tags added to every metric of the run.
        type: dict
      follow_redirects:
        description: Follow up to 10 redirects. Off by default so that a redirect is not a success.
        type: bool
        default: false
      timeout:
        description: Default request timeout (k6 duration).
        type: str
        default: 10s
      graceful_stop:
        description: Time k6 gives running iterations at the end (k6 duration).
        type: str
        default: 5s
      insecure_skip_tls_verify:
        description: Do not verify TLS certificates.
        type: bool
        default: false
  output_dir:
    description:
      - Directory for C(script.js), C(summary.json), C(result.json), C(k6.log) and, with
        I(raw_output), C(raw.json.gz). Created when missing; earlier results in it are replaced.
    type: path
    required: true
  k6_path:
    description: Path or name of the k6 binary. Default, C(k6) on C(PATH), then next to the Python running the module.
    type: path
  fail_on_threshold:
    description: Fail the task when a threshold fails (k6 exit code 99). Otherwise the result reports it.
    type: bool
    default: false
  raw_output:
    description:
      - Also write every sample with C(--out json) to C(raw.json.gz) (about 3.4 KB per request before
        compression). Needed for latency-over-time plots; use only for short runs.
    type: bool
    default: false
  preflight:
    description: Check that the target accepts a TCP connection before starting k6.
    type: bool
    default: true
  preflight_timeout:
    description: Seconds to wait for the preflight connection.
    type: float
    default: 3
  run_timeout:
    description: Seconds after which k6 is stopped. Default, the planned duration plus twice the graceful stop plus 120.
    type: int
  environment:
    description: Extra environment variables for k6 (for example C(K6_BATCH_PER_HOST)).
    type: dict
notes:
  - The whole run happens inside the module; for runs longer than the SSH timeout use C(async) and C(poll).
  - k6 1.1.0 sends no C(Accept-Encoding) header by default; set it in I(spec.requests[].headers) to exercise compression.
extends_documentation_fragment:
  - dsa.platform.k6
attributes:
  check_mode:
    details: Validates the spec, renders the script and, when k6 is installed, compiles it with
      C(k6 inspect --execution-requirements); no load is sent and nothing is written to I(output_dir).
seealso:
  - module: dsa.platform.k6_report
  - name: k6 executors
    description: Closed and open models in k6.
    link: https://grafana.com/docs/k6/latest/using-k6/scenarios/executors/
'''

EXAMPLES = r'''
- name: Closed model, 50 VUs with normally distributed think time
  dsa.platform.k6_run:
    output_dir: /var/tmp/k6/host/reference-50-normal
    spec:
      base_url: http://127.0.0.1:8000
      model: closed
      vus: 50
      duration: 5m
      distribution: {type: normal, mean: 1.0, stddev: 0.25}
      seed: 42
      requests:
        - name: ingest
          method: POST
          path: /api/v1/readings
          weight: 3
          body:
            device_id: "${random.int(1, 500)}"
            value: "${random.float(15, 30, 2)}"
            kind: "${random.choice(['temperature', 'humidity'])}"
            request_id: "${uuid}"
          expect: {status: 201, json_keys: [id]}
        - name: list
          path: /api/v1/readings?limit=50
          expect: {status: 200, body_contains: '"items"'}
      thresholds:
        http_req_duration: ["p(95)<500"]
        http_req_failed: ["rate<0.01"]

- name: Open model, Poisson arrivals at 200 requests per second
  dsa.platform.k6_run:
    output_dir: "{{ results_dir }}/open-poisson"
    fail_on_threshold: true
    spec:
      base_url: "{{ dsa_api_url }}"
      model: open
      rate: 200
      vus: 50
      max_vus: 500
      duration: 60s
      distribution: poisson
      requests:
        - path: /healthz
          expect: {status: 200, body_contains: ok}
      thresholds:
        http_req_duration: ["p(95)<200"]
  register: run

- name: Render and validate only
  dsa.platform.k6_run:
    output_dir: /tmp/k6-check
    spec: "{{ my_spec }}"
  check_mode: true
'''

RETURN = r'''
requests:
  description: HTTP requests sent (C(http_reqs)).
  returned: when k6 ran
  type: int
  sample: 12034
rate:
  description: Requests per second over the run.
  returned: when k6 ran
  type: float
  sample: 200.4
iterations:
  description: Completed iterations (one request each).
  returned: when k6 ran
  type: int
latency_ms:
  description: C(http_req_duration) in milliseconds.
  returned: when k6 ran
  type: dict
  sample: {avg: 3.1, min: 0.4, p50: 2.2, p90: 5.0, p95: 7.9, p99: 20.3, max: 81.0}
failure_rate:
  description: Share of requests whose status was not one of the expected ones (C(http_req_failed)).
  returned: when k6 ran
  type: float
failed_requests:
  description: Number of such requests.
  returned: when k6 ran
  type: int
checks:
  description: Checks passed and failed, overall and per check name.
  returned: when k6 ran
  type: dict
  sample: {passed: 200, failed: 0, rate: 1.0, by_name: [{name: "ingest: status in [201]", passed: 100, failed: 0}]}
dropped_iterations:
  description: Open-model arrivals k6 could not start (not enough VUs); non-zero means the target rate was not offered.
  returned: when k6 ran
  type: int
rate_offered_ok:
  description: True when no arrival was dropped.
  returned: when k6 ran
  type: bool
offered:
  description: Open model, the drawn schedule (C(slice_s), total C(arrivals), C(rates) per slice); null for the closed model.
  returned: when k6 ran
  type: dict
vus_max:
  description: Most VUs allocated (C(vus_max)).
  returned: when k6 ran
  type: int
vus_peak:
  description: Most VUs active at once (C(vus)).
  returned: when k6 ran
  type: int
data_sent_bytes:
  description: Bytes sent.
  returned: when k6 ran
  type: int
data_received_bytes:
  description: Bytes received.
  returned: when k6 ran
  type: int
thresholds:
  description: Each threshold with its result.
  returned: when k6 ran
  type: list
  elements: dict
  sample: [{metric: http_req_duration, expression: "p(95)<500", ok: true}]
thresholds_ok:
  description: False when any threshold failed (k6 exit code 99).
  returned: when k6 ran
  type: bool
start_time:
  description: UTC start time (ISO 8601).
  returned: when k6 ran
  type: str
end_time:
  description: UTC end time (ISO 8601).
  returned: when k6 ran
  type: str
elapsed_s:
  description: Wall time of the k6 process in seconds.
  returned: when k6 ran
  type: float
test_duration_s:
  description: Test duration as k6 measured it.
  returned: when k6 ran
  type: float
seed:
  description: Seed used (the given one or the one chosen); pass it back to repeat the run.
  returned: always
  type: int
spec:
  description: The spec with every default filled in (durations in seconds).
  returned: always
  type: dict
script:
  description: The rendered script.
  returned: in check mode
  type: str
validated_with_k6:
  description: Whether C(k6 inspect) compiled the script (check mode, k6 installed).
  returned: in check mode
  type: bool
script_path:
  description: Path of the generated script.
  returned: when k6 ran
  type: str
summary_path:
  description: Path of the handleSummary JSON.
  returned: when k6 ran
  type: str
result_path:
  description: Path of the JSON file holding this result.
  returned: when k6 ran
  type: str
log_path:
  description: Path of k6's output.
  returned: when k6 ran
  type: str
raw_path:
  description: Path of the raw per-request output, or null.
  returned: when k6 ran
  type: str
exit_code:
  description: k6 exit code (0, or 99 when a threshold failed). Not named C(rc) so that a failed threshold does not fail the task by itself.
  returned: when k6 ran
  type: int
cmd:
  description: The k6 command line.
  returned: when k6 ran
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dsa.platform.plugins.module_utils.k6.runner import K6RunError, module_argument_spec, run


def main():
    # Built from the same field table that validates the spec (module_utils/k6/spec.py), so
    # there is one set of names, types and defaults.
    module = AnsibleModule(argument_spec=module_argument_spec(), supports_check_mode=True)
    params = module.params
    env = dict((str(k), str(v)) for k, v in (params['environment'] or {}).items())
    try:
        result, failed_msg = run(
            params['spec'], params['output_dir'], k6_path=params['k6_path'],
            fail_on_threshold=params['fail_on_threshold'], raw_output=params['raw_output'],
            do_preflight=params['preflight'], preflight_timeout=params['preflight_timeout'],
            run_timeout=params['run_timeout'], env=env, check_mode=module.check_mode)
    except K6RunError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    if failed_msg:
        module.fail_json(msg=failed_msg, **result)
    if result.get('dropped_iterations'):
        module.warn('k6 dropped %d iterations: the target rate was not offered (raise spec.max_vus)'
                    % result['dropped_iterations'])
    module.exit_json(**result)


if __name__ == '__main__':
    main()
