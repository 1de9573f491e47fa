# -*- coding: utf-8 -*-
# Copyright: dsa.platform developers
# MIT License (see LICENSE or https://opensource.org/licenses/MIT)
"""Filters that find the network addresses of inventory hosts (for allow lists)."""

from collections.abc import Mapping

import netaddr
from ansible.errors import AnsibleFilterError


def _is_address(value):
    return isinstance(value, str) and (netaddr.valid_ipv4(value) or netaddr.valid_ipv6(value))


def _addresses_of(hv):
    """The host's ``ansible_host`` when it is an address, else its gathered default addresses."""
    if _is_address(hv.get("ansible_host")):
        return [hv["ansible_host"]]
    found = []
    for fact in ("ansible_default_ipv4", "ansible_default_ipv6"):
        address = (hv.get(fact) or {}).get("address")
        if _is_address(address):
            found.append(address)
    return found


def _as_network(address):
    return f"{address}/128" if ":" in address else f"{address}/32"


def host_addresses(hosts, hostvars, unknown=False, cidr=False):
    """Inventory hosts -> their addresses (order kept, no duplicates); with ``cidr`` as /32 or /128 networks.

    With ``unknown=True`` it returns instead the hosts whose address cannot be told (``ansible_host``
    is a name and no facts were gathered), so a preflight can name them.
    """
    if hosts is None:
        return []
    if isinstance(hosts, (str, bytes, Mapping)):
        raise AnsibleFilterError("host_addresses: expects a list of inventory host names")
    result = []
    for host in hosts:
        hv = hostvars[host] if hostvars is not None and host in hostvars else {}
        addresses = _addresses_of(hv)
        if unknown:
            if not addresses:
                result.append(host)
            continue
        if cidr:
            addresses = [_as_network(a) for a in addresses]
        result.extend(a for a in addresses if a not in result)
    return result


class FilterModule:
    def filters(self):
        return {"host_addresses": host_addresses}
