# -*- coding: utf-8 -*-
# Copyright: dsa.platform developers
# MIT License (see LICENSE or https://opensource.org/licenses/MIT)
"""Wait until HTTP endpoints answer with the expected status, within one deadline for all of them."""

import time
import urllib.error
import urllib.request


def probe(url, timeout):
    """One GET: (status or None, a short reason)."""
    request = urllib.request.Request(url, headers={"User-Agent": "dsa.platform-http_ready"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # nosec: the operator's own URLs
            return response.status, f"HTTP {response.status}"
    except urllib.error.HTTPError as err:
        return err.code, f"HTTP {err.code}"
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        return None, str(reason)


def wait_ready(urls, status=200, timeout=60.0, interval=1.0, request_timeout=5.0,
               clock=time.monotonic, sleep=time.sleep, get=probe):
    """Poll every URL until each has answered ``status`` once, or the deadline passes.

    Returns ``(ready, report)``: ``report`` maps each URL to ``{"ready", "attempts", "last"}``,
    where ``last`` is the last answer or connection error, so a failure can say what it saw.
    """
    deadline = clock() + timeout
    report = {url: {"ready": False, "attempts": 0, "last": "not tried"} for url in urls}
    pending = list(urls)
    while pending:
        for url in list(pending):
            got, reason = get(url, request_timeout)
            entry = report[url]
            entry["attempts"] += 1
            entry["last"] = reason
            if got == status:
                entry["ready"] = True
                pending.remove(url)
        if not pending or clock() >= deadline:
            break
        sleep(min(interval, max(0.0, deadline - clock())))
    return not pending, report
