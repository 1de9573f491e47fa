# -*- coding: utf-8 -*-
# Copyright: dsa.platform developers
# MIT License (see LICENSE or https://opensource.org/licenses/MIT)
"""Option tables of the k6 modules: one declaration gives both the AnsibleModule argument_spec and
the defaults the plain-Python code applies, and the unit tests compare it with DOCUMENTATION."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

class Field(object):
    """One option: its type, default, whether it is required, its choices and sub-options.

    ``default`` is what an unset (or null) value becomes; ``options`` holds the fields of a
    mapping (or of each mapping of a list).
    """

    __slots__ = ('type', 'default', 'required', 'choices', 'elements', 'options', 'no_log')

    def __init__(self, type, default=None, required=False, choices=None, elements=None, options=None, no_log=None):
        self.type = type
        self.default = default
        self.required = required
        self.choices = tuple(choices) if choices else None
        self.elements = elements
        self.options = options
        self.no_log = no_log


def argument_spec(fields):
    """AnsibleModule argument_spec entries for a field table."""
    out = {}
    for name, field in fields.items():
        option = {'type': field.type}
        for attr in ('default', 'elements', 'no_log'):
            if getattr(field, attr) is not None:
                option[attr] = copy.deepcopy(getattr(field, attr))
        if field.required:
            option['required'] = True
        if field.choices:
            option['choices'] = list(field.choices)
        if field.options:
            option['options'] = argument_spec(field.options)
        out[name] = option
    return out


def default(fields, name, value):
    """value, or the table's default for option name when value is None."""
    return copy.deepcopy(fields[name].default) if value is None else value
