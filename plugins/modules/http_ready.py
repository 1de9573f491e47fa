#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dsa.platform developers
# MIT License (see LICENSE or https://opensource.org/licenses/MIT)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: http_ready
short_description: Wait until HTTP endpoints answer with the expected status
version_added: 0.1.0
description:
  - Polls every URL in I(urls) from the managed host until each has answered I(status) once, all
    within one deadline of I(timeout) seconds.
  - When the deadline passes, fails with the URLs that never became ready and the last answer or
    connection error seen for each, so the message names the component that did not come up.
  - The readiness wait of every role of the collection (API instances, nginx, Prometheus, the agent).
author:
  - dsa.platform developers (@dsa-platform)
options:
  urls:
    description: URLs to wait for (GET, redirects not followed).
    type: list
    elements: str
    required: true
  status:
    description: The HTTP status that counts as ready.
    type: int
    default: 200
  timeout:
    description: Seconds to wait for all URLs together.
    type: float
    default: 60
  interval:
    description: Seconds between two rounds of requests.
    type: float
    default: 1
  request_timeout:
    description: Seconds one request may take.
    type: float
    default: 5
attributes:
  check_mode:
    support: full
    details: In check mode nothing is requested (the services may not exist yet); the module reports C(skipped_in_check_mode).
  diff_mode:
    support: none
notes:
  - The module never changes anything; it always reports C(changed=false).
'''

EXAMPLES = r'''
- name: Wait until every instance and nginx are ready
  dsa.platform.http_ready:
    urls:
      - http://127.0.0.1:8001/readyz
      - http://127.0.0.1:8002/readyz
      - http://127.0.0.1/readyz
    timeout: 60
'''

RETURN = r'''
ready:
  description: Whether every URL answered I(status) in time.
  returned: always
  type: bool
endpoints:
  description: Per URL, whether it became ready, how many requests were made and the last answer or error.
  returned: always
  type: dict
  sample: {"http://127.0.0.1:8001/readyz": {"ready": true, "attempts": 3, "last": "HTTP 200"}}
elapsed:
  description: Seconds spent waiting.
  returned: always
  type: float
'''

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.dsa.platform.plugins.module_utils.http.ready import wait_ready


def main():
    module = AnsibleModule(
        argument_spec=dict(
            urls=dict(type="list", elements="str", required=True),
            status=dict(type="int", default=200),
            timeout=dict(type="float", default=60),
            interval=dict(type="float", default=1),
            request_timeout=dict(type="float", default=5),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if not params["urls"]:
        module.fail_json(msg="urls: give at least one URL to wait for")
    if module.check_mode:
        module.exit_json(changed=False, ready=False, endpoints={}, elapsed=0.0, skipped_in_check_mode=True)
    start = time.monotonic()
    ready, report = wait_ready(params["urls"], status=params["status"], timeout=params["timeout"],
                               interval=params["interval"], request_timeout=params["request_timeout"])
    elapsed = round(time.monotonic() - start, 2)
    if not ready:
        missing = "; ".join(f"{url} (last: {entry['last']}, {entry['attempts']} tries)"
                            for url, entry in report.items() if not entry["ready"])
        module.fail_json(msg=f"not ready after {params['timeout']:g} s: {missing}", ready=False,
                         endpoints=report, elapsed=elapsed)
    module.exit_json(changed=False, ready=True, endpoints=report, elapsed=elapsed)


if __name__ == "__main__":
    main()
