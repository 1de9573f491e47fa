"""DOCUMENTATION of the k6 modules says what their option tables do: the same option names,
types, required flags, defaults, elements and choices, at every level of sub-options. The
tables (module_utils/k6) build the argument_spec and give the code its defaults, so a drift
between the docs and the behaviour fails here."""
import copy

import pytest
import yaml

from ansible_collections.dsa.platform.plugins.module_utils.k6.report import REPORT_FIELDS
from ansible_collections.dsa.platform.plugins.module_utils.k6.runner import RUN_FIELDS
from ansible_collections.dsa.platform.plugins.modules import k6_report, k6_run


def disagreements(doc_opts, fields, path=''):
    """Every difference between documented options and a field table, recursively."""
    found = []
    if set(doc_opts) != set(fields):
        found.append('%s: documented %s, table %s' % (path.rstrip('.') or 'options', sorted(doc_opts), sorted(fields)))
    for name in sorted(set(doc_opts) & set(fields)):
        doc, field = doc_opts[name], fields[name]
        where = path + name
        for attr, documented, declared in (
                ('type', doc.get('type', 'str'), field.type),
                ('required', doc.get('required', False), field.required),
                ('default', doc.get('default'), field.default),
                ('elements', doc.get('elements'), field.elements),
                ('choices', doc.get('choices'), list(field.choices) if field.choices else None)):
            if documented != declared:
                found.append('%s.%s: documented %r, table %r' % (where, attr, documented, declared))
        if field.options or 'suboptions' in doc:
            found.extend(disagreements(doc.get('suboptions') or {}, field.options or {}, where + '.'))
    return found


def options(module):
    return yaml.safe_load(module.DOCUMENTATION)['options']


@pytest.mark.parametrize('module, fields', [(k6_run, RUN_FIELDS), (k6_report, REPORT_FIELDS)], ids=['k6_run', 'k6_report'])
def test_documentation_matches_the_option_table(module, fields):
    assert disagreements(options(module), fields) == []


def test_a_drift_in_names_types_or_defaults_is_caught():
    drifted = copy.deepcopy(options(k6_run))
    drifted['spec']['suboptions']['vus']['default'] = 20
    drifted['spec']['suboptions']['requests']['suboptions']['weight']['type'] = 'int'
    del drifted['spec']['suboptions']['requests']['suboptions']['expect']['suboptions']['json_keys']
    drifted['spec']['suboptions']['model']['choices'] = ['closed']
    drifted['preflight_timeout']['default'] = 5
    drifted['retries'] = {'type': 'int'}
    assert disagreements(drifted, RUN_FIELDS) == [
        "options: documented ['environment', 'fail_on_threshold', 'k6_path', 'output_dir', 'preflight', "
        "'preflight_timeout', 'raw_output', 'retries', 'run_timeout', 'spec'], table ['environment', "
        "'fail_on_threshold', 'k6_path', 'output_dir', 'preflight', 'preflight_timeout', 'raw_output', "
        "'run_timeout', 'spec']",
        'preflight_timeout.default: documented 5, table 3.0',
        "spec.model.choices: documented ['closed'], table ['closed', 'open']",
        "spec.requests.expect: documented ['body_contains', 'status'], table ['body_contains', 'json_keys', 'status']",
        "spec.requests.weight.type: documented 'int', table 'float'",
        'spec.vus.default: documented 20, table 10',
    ]
