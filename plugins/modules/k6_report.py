#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dsa.platform developers
# MIT License (see LICENSE or https://opensource.org/licenses/MIT)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: k6_report
short_description: Compare many k6 runs and write CSV, Markdown and a self-contained HTML report
version_added: 0.1.0
description:
  - Reads every C(<results_dir>/<configuration>/<scenario>/summary.json) written by
    M(dsa.platform.k6_run) (any k6 C(handleSummary) JSON works) and writes C(report.csv),
    C(report.md), C(report.html) and PNG plots to I(output_dir).
  - "Plots: latency percentiles (p50, p95, p99), throughput and error rate per scenario and
    configuration; the ratio to the baseline when I(baseline) is set; latency over time (p95 and
    average per I(bucket) seconds) for every scenario that has raw output (C(raw.json.gz) or
    C(raw.json) from C(k6_run raw_output=true))."
  - The HTML page embeds the PNGs as base64 data URIs, so it is one file that can be mailed or archived.
  - With I(baseline), every row gets C(<metric>_ratio) columns (value divided by the baseline
    configuration's value for the same scenario) for rate, avg, p50, p95, p99 latency and failure rate.
  - The module works on the host it runs on. Results are usually fetched to the controller, so run it
    there with C(delegate_to localhost) and C(run_once true). It needs matplotlib there unless I(plots=false).
  - Files are only rewritten when their content changes, so a second run over the same results reports no change.
author:
  - dsa.platform developers (@dsa-platform)
options:
  results_dir:
    description: Root holding one directory per configuration, each with one directory per scenario.
    type: path
    required: true
  output_dir:
    description: Where to write the report. Defaults to I(results_dir).
    type: path
  baseline:
    description: Configuration the others are compared with (ratio columns and plot). Must exist.
    type: str
  formats:
    description: Which reports to write.
    type: list
    elements: str
    choices: [csv, markdown, html]
    default: [csv, markdown, html]
  plots:
    description: Draw PNG plots (needs matplotlib).
    type: bool
    default: true
  title:
    description: Title of the Markdown and HTML reports.
    type: str
    default: k6 benchmark report
  bucket:
    description: Seconds per point in latency-over-time plots.
    type: float
    default: 1.0
extends_documentation_fragment:
  - dsa.platform.k6
attributes:
  check_mode:
    details: Reads the results and returns the rows without writing anything.
seealso:
  - module: dsa.platform.k6_run
'''

EXAMPLES = r'''
- name: Compare the host and microk8s deployments
  dsa.platform.k6_report:
    results_dir: "{{ playbook_dir }}/../results/campus/reference/20260101T120000"
    baseline: host
    title: "campus: reference preset"
  delegate_to: localhost
  run_once: true
  register: report

- name: Show where the page is
  ansible.builtin.debug:
    msg: "{{ report.files.html }}"
'''

RETURN = r'''
rows:
  description: One row per configuration and scenario (the CSV content), with ratio columns when I(baseline) is set.
  returned: always
  type: list
  elements: dict
  sample:
    - {configuration: host, scenario: smoke, requests: 1200, rate: 40.1, p95_ms: 3.2, failure_rate: 0.0, p95_ms_ratio: 1.0}
configurations:
  description: Configurations found, in order.
  returned: always
  type: list
  elements: str
scenarios:
  description: Scenarios found, in order.
  returned: always
  type: list
  elements: str
baseline:
  description: The baseline configuration, or null.
  returned: always
  type: str
missing:
  description: C(configuration/scenario) pairs that have no result while others do (only with I(baseline)).
  returned: always
  type: list
  elements: str
errors:
  description: Summaries that could not be read (skipped).
  returned: always
  type: list
  elements: str
files:
  description: Paths written, by kind (C(csv), C(markdown), C(html), C(png) list).
  returned: always
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dsa.platform.plugins.module_utils.k6.report import ReportError, build_report, module_argument_spec


def main():
    # Built from the table that also gives build_report() its defaults (module_utils/k6/report.py).
    module = AnsibleModule(argument_spec=module_argument_spec(), supports_check_mode=True)
    p = module.params
    try:
        result = build_report(p['results_dir'], p['output_dir'], p['baseline'], p['formats'], p['plots'],
                              p['title'], p['bucket'], check_mode=module.check_mode)
    except ReportError as exc:
        module.fail_json(msg=str(exc))
    for err in result['errors']:
        module.warn('skipped unreadable summary %s' % err)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
