# -*- coding: utf-8 -*-
# Copyright: dsa.platform developers
# MIT License (see LICENSE or https://opensource.org/licenses/MIT)
"""Run one k6 test from a spec: the logic behind ``dsa.platform.k6_run``.

Steps: validate the spec (k6_spec), render the script (k6_script), check that the k6 binary
exists and the target accepts TCP connections, run ``k6 run --no-usage-report``, parse the
summary written by ``handleSummary`` (k6_summary). Every failure raises ``K6RunError`` with a
message that names the cause; the caller (the module) turns it into ``fail_json``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

try:
    from urllib.parse import urlsplit
except ImportError:  # pragma: no cover
    from urlparse import urlsplit  # type: ignore

from ansible_collections.dsa.platform.plugins.module_utils.k6.fields import Field, argument_spec, default
from ansible_collections.dsa.platform.plugins.module_utils.k6.spec import SPEC_FIELDS, SpecError, normalize_spec
from ansible_collections.dsa.platform.plugins.module_utils.k6.script import render_script
from ansible_collections.dsa.platform.plugins.module_utils.k6.summary import SummaryError, load_summary

EXIT_THRESHOLDS_FAILED = 99
# k6 exit codes worth naming in messages (go.k6.io/k6/errext/exitcodes).
EXIT_CODES = {
    97: 'cloud test run failed',
    98: 'setup() timed out',
    99: 'thresholds failed',
    100: 'teardown() timed out',
    101: 'generic timeout',
    103: 'invalid configuration',
    104: 'invalid configuration',
    105: 'stopped externally',
    107: 'script exception',
    108: 'test aborted by the script',
}
SCRIPT_NAME = 'script.js'
SUMMARY_NAME = 'summary.json'
RESULT_NAME = 'result.json'
LOG_NAME = 'k6.log'
RAW_NAME = 'raw.json.gz'


class K6RunError(Exception):
    def __init__(self, msg, **details):
        super(K6RunError, self).__init__(msg)
        self.msg = msg
        self.details = details


def find_k6(explicit=None):
    """Path of the k6 binary: ``explicit`` if given, else PATH, else next to this Python (venv)."""
    if explicit:
        if os.path.isfile(explicit) and os.access(explicit, os.X_OK):
            return explicit
        found = shutil.which(explicit)
        if found:
            return found
        return None
    found = shutil.which('k6')
    if found:
        return found
    for candidate in (os.path.join(sys.prefix, 'bin', 'k6'), os.path.join(os.path.dirname(sys.executable), 'k6')):
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def preflight(base_url, timeout=3.0):
    """Fail fast with the URL in the message when nothing accepts TCP connections at the target."""
    parts = urlsplit(base_url)
    port = parts.port or (443 if parts.scheme == 'https' else 80)
    try:
        conn = socket.create_connection((parts.hostname, port), timeout=timeout)
    except (OSError, socket.error) as exc:
        raise K6RunError('target %s is unreachable (TCP connect to %s:%s failed: %s)'
                         % (base_url, parts.hostname, port, exc), url=base_url)
    conn.close()


def build_command(k6, script_path, raw_path=None, extra_args=None):
    cmd = [k6, 'run', '--no-usage-report', '--quiet', '--no-color']
    if raw_path:
        cmd += ['--out', 'json=%s' % raw_path]
    cmd += list(extra_args or [])
    cmd.append(script_path)
    return cmd


def _utcnow():
    return datetime.datetime.now(datetime.timezone.utc) if hasattr(datetime, 'timezone') else datetime.datetime.utcnow()


def _tail(path, lines=20):
    try:
        with open(path, 'r', errors='replace') as handle:
            return ''.join(handle.readlines()[-lines:]).strip()
    except (IOError, OSError):
        return ''


def run_process(cmd, log_path, timeout, env=None):
    """Run ``cmd`` with stdout+stderr to ``log_path``; kill its process group after ``timeout`` s.

    Returns the exit code, or raises K6RunError on timeout."""
    full_env = dict(os.environ)
    full_env['K6_NO_USAGE_REPORT'] = 'true'
    full_env.update(env or {})
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=full_env,
                                start_new_session=True)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=15)
            except (OSError, subprocess.TimeoutExpired):
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            raise K6RunError('k6 did not finish within %ss and was stopped' % timeout, log_path=log_path)


def validate_with_k6(k6, script_path, env=None):
    """``k6 inspect --execution-requirements``: compiles the script and checks options and thresholds.

    Returns the options k6 derived (dict)."""
    full_env = dict(os.environ)
    full_env['K6_NO_USAGE_REPORT'] = 'true'
    full_env.update(env or {})
    proc = subprocess.run([k6, 'inspect', '--execution-requirements', script_path], env=full_env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120,
                          check=False)
    if proc.returncode != 0:
        raise K6RunError('k6 rejected the generated script (exit %d): %s'
                         % (proc.returncode, (proc.stderr or proc.stdout).strip()[-2000:]), script_path=script_path)
    try:
        return json.loads(proc.stdout)
    except ValueError:
        return {}


def default_run_timeout(spec):
    """Planned duration plus generous room for start-up, graceful stop and the summary."""
    return int(spec['total_duration'] + 2 * spec['graceful_stop'] + 120)


# The options of dsa.platform.k6_run: its argument_spec is built from this table (the spec's
# fields are SPEC_FIELDS) and run() takes its defaults from it. DOCUMENTATION is checked against
# it by tests/unit/plugins/modules/test_k6_run_docs.py.
RUN_FIELDS = {
    'spec': Field('dict', required=True, options=SPEC_FIELDS),
    'output_dir': Field('path', required=True),
    'k6_path': Field('path'),
    'fail_on_threshold': Field('bool', default=False),
    'raw_output': Field('bool', default=False),
    'preflight': Field('bool', default=True),
    'preflight_timeout': Field('float', default=3.0),
    'run_timeout': Field('int'),
    'environment': Field('dict'),
}


def module_argument_spec():
    """argument_spec of dsa.platform.k6_run."""
    return argument_spec(RUN_FIELDS)


def run(spec, output_dir, k6_path=None, fail_on_threshold=None, raw_output=None, do_preflight=None,
        preflight_timeout=None, run_timeout=None, env=None, check_mode=False, extra_args=None,
        runner=None):
    """Validate, render, (unless check_mode) run. Returns ``(result, failed_msg_or_None)``.

    ``failed_msg`` is set when the task should fail although k6 produced a result (threshold
    failed with ``fail_on_threshold``). Hard errors raise K6RunError. An option left at None
    takes k6_run's default (RUN_FIELDS; do_preflight is the option preflight).
    """
    fail_on_threshold = default(RUN_FIELDS, 'fail_on_threshold', fail_on_threshold)
    raw_output = default(RUN_FIELDS, 'raw_output', raw_output)
    do_preflight = default(RUN_FIELDS, 'preflight', do_preflight)
    preflight_timeout = default(RUN_FIELDS, 'preflight_timeout', preflight_timeout)
    try:
        norm = normalize_spec(spec)
    except SpecError as exc:
        raise K6RunError('invalid spec: %s' % exc, field=exc.path, reason=exc.reason)

    k6 = find_k6(k6_path)
    # Running k6 sends load and writes results; in check mode it is what would happen.
    result = {'changed': True, 'spec': norm, 'seed': norm['seed']}

    if check_mode:
        tmp = tempfile.mkdtemp(prefix='k6_run_check_')
        try:
            script_path = os.path.join(tmp, SCRIPT_NAME)
            script = render_script(norm, os.path.join(output_dir, SUMMARY_NAME))
            with open(script_path, 'w') as handle:
                handle.write(script)
            result['script'] = script
            result['validated_with_k6'] = False
            if k6:
                options = validate_with_k6(k6, script_path, env)
                result['validated_with_k6'] = True
                result['k6_options'] = options
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return result, None

    if not k6:
        raise K6RunError('k6 binary not found (looked for %s; install k6 or set k6_path)'
                         % (k6_path or 'k6 on PATH and in %s/bin' % sys.prefix))
    if do_preflight:
        preflight(norm['base_url'], preflight_timeout)

    output_dir = os.path.abspath(output_dir)
    if not os.path.isdir(output_dir):
        os.makedirs(output_dir)
    script_path = os.path.join(output_dir, SCRIPT_NAME)
    summary_path = os.path.join(output_dir, SUMMARY_NAME)
    log_path = os.path.join(output_dir, LOG_NAME)
    raw_path = os.path.join(output_dir, RAW_NAME) if raw_output else None
    for stale in (summary_path, os.path.join(output_dir, RESULT_NAME), os.path.join(output_dir, RAW_NAME)):
        if os.path.exists(stale):
            os.remove(stale)
    with open(script_path, 'w') as handle:
        handle.write(render_script(norm, summary_path))

    cmd = build_command(k6, script_path, raw_path, extra_args)
    timeout = run_timeout or default_run_timeout(norm)
    start = _utcnow()
    t0 = time.time()
    rc = (runner or run_process)(cmd, log_path, timeout, env)
    elapsed = time.time() - t0
    end = _utcnow()

    result.update({
        'cmd': cmd,
        # not 'rc': Ansible treats a non-zero 'rc' as a failed task (async_status does), but
        # exit code 99 (threshold failed) is a result, failing only with fail_on_threshold.
        'exit_code': rc,
        'script_path': script_path,
        'summary_path': summary_path,
        'log_path': log_path,
        'raw_path': raw_path,
        'result_path': os.path.join(output_dir, RESULT_NAME),
        'start_time': start.isoformat(),
        'end_time': end.isoformat(),
        'elapsed_s': round(elapsed, 3),
    })
    if rc not in (0, EXIT_THRESHOLDS_FAILED):
        raise K6RunError('k6 exited with %d (%s): %s' % (rc, EXIT_CODES.get(rc, 'error'), _tail(log_path)),
                         exit_code=rc, cmd=cmd, log_path=log_path, script_path=script_path)
    if not os.path.exists(summary_path):
        raise K6RunError('k6 exited with %d but wrote no summary at %s: %s' % (rc, summary_path, _tail(log_path)),
                         exit_code=rc, log_path=log_path, script_path=script_path)
    try:
        result.update(load_summary(summary_path))
    except SummaryError as exc:
        raise K6RunError(str(exc), exit_code=rc, summary_path=summary_path)
    if rc == EXIT_THRESHOLDS_FAILED:
        result['thresholds_ok'] = False  # k6's verdict wins over the per-threshold flags
    result['rate_offered_ok'] = result['dropped_iterations'] == 0

    with open(result['result_path'], 'w') as handle:
        json.dump(result, handle, indent=1, sort_keys=True, default=str)

    failed_msg = None
    if not result['thresholds_ok'] and fail_on_threshold:
        failed = ['%s %s' % (t['metric'], t['expression']) for t in result['thresholds'] if not t['ok']]
        failed_msg = 'k6 thresholds failed: %s' % (', '.join(failed) or 'see %s' % log_path)
    return result, failed_msg
