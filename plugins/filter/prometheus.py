# -*- coding: utf-8 -*-
# Copyright: dsa.platform developers
# MIT License (see LICENSE or https://opensource.org/licenses/MIT)
"""Filters that turn inventory hosts into Prometheus scrape targets."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError


def _host_vars(hostvars, host):
    if hostvars is None:
        return {}
    try:
        found = host in hostvars
    except TypeError:
        found = False
    return hostvars[host] if found else {}


def _int(value, what, host):
    try:
        number = int(value)
    except (TypeError, ValueError) as err:
        raise AnsibleFilterError(f"prometheus_targets: {what} of {host} is not an integer: {value!r}") from err
    if number < 0:
        raise AnsibleFilterError(f"prometheus_targets: {what} of {host} is negative: {number}")
    return number


def _address(value):
    address = str(value)
    if ":" in address and not address.startswith("["):
        return f"[{address}]"  # IPv6 literal
    return address


def prometheus_targets(hosts, hostvars=None, port=None, port_var=None, count=1, count_var=None,
                       address_var="ansible_host"):
    """Inventory hosts -> ``address:port`` strings, one per host and instance.

    The address is the host's ``address_var`` (``ansible_host``) or its inventory name; the port is
    the host's ``port_var`` or ``port``; a host with ``count`` instances (``count_var``) gets the
    ports ``port .. port + count - 1``. Duplicates are dropped, the order is kept.
    """
    if hosts is None:
        return []
    if isinstance(hosts, (str, bytes)) or isinstance(hosts, Mapping):
        raise AnsibleFilterError("prometheus_targets: expects a list of inventory host names")
    targets = []
    for host in hosts:
        hv = _host_vars(hostvars, host)
        address = hv.get(address_var) if address_var else None
        base = hv.get(port_var) if port_var else None
        instances = hv.get(count_var) if count_var else None
        base = _int(port if base is None else base, "port", host)
        instances = _int(count if instances is None else instances, "instance count", host)
        if base == 0 or base + instances - 1 > 65535:
            raise AnsibleFilterError(f"prometheus_targets: ports of {host} out of range: {base}+{instances}")
        for i in range(instances):
            target = f"{_address(address if address else host)}:{base + i}"
            if target not in targets:
                targets.append(target)
    return targets


class FilterModule:
    def filters(self):
        return {"prometheus_targets": prometheus_targets}
