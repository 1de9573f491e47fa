"""Checks of an inventory's address plan, used by playbooks/validate.yml.

Each function returns a list of problems; every problem names the variable it is about, so a
failed preflight tells the user exactly what to fix. An empty list means the value is fine.
"""
import re
from urllib.parse import urlsplit

import netaddr

from ansible_collections.dsa.platform.plugins.module_utils.checks.netcheck import invalid_networks

_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")


def _is_ip(value):
    try:
        netaddr.IPAddress(value)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        return False
    return True


def network_problems(values, name):
    """Every entry must be a network in CIDR form with no host bits set (rules in netcheck.py)."""
    problems = []
    for problem in invalid_networks(values):
        where = name if problem["index"] is None else f"{name}[{problem['index']}]"
        problems.append(f"{where}: {problem['value']!r} {problem['reason']}")
    return problems


def address_problems(value, name):
    """An IP address or a DNS name."""
    if isinstance(value, str) and (_is_ip(value) or _HOSTNAME.match(value)):
        return []
    return [f"{name}: {value!r} is neither an IP address nor a host name"]


def url_problems(value, name):
    """An http(s) URL with a host, and no path beyond '/' (routes are the API's business)."""
    if not isinstance(value, str):
        return [f"{name}: must be a URL string, got {value!r}"]
    try:
        parts = urlsplit(value)
    except ValueError as err:  # e.g. a bracketed host that is not an IPv6 address
        return [f"{name}: {value!r} is not a URL ({err})"]
    problems = []
    if parts.scheme not in ("http", "https"):
        problems.append(f"{name}: {value!r} must start with http:// or https://")
    if not parts.hostname:
        problems.append(f"{name}: {value!r} has no host")
    else:
        problems.extend(address_problems(parts.hostname, f"{name} (host)"))
    try:
        parts.port  # noqa: B018 - raises on an out-of-range port
    except ValueError:
        problems.append(f"{name}: {value!r} has an invalid port")
    return problems


def port_problems(ports, host):
    """`ports` maps a variable name to the TCP ports it uses on one host; none may be shared."""
    problems = []
    owner = {}
    for name, value in ports.items():
        numbers = value if isinstance(value, (list, tuple)) else [value]
        for port in numbers:
            try:
                port = int(port)
            except (TypeError, ValueError):
                problems.append(f"{name}: {port!r} is not a port number (on {host})")
                continue
            if not 1 <= port <= 65535:
                problems.append(f"{name}: {port} is outside 1-65535 (on {host})")
            elif port in owner:
                problems.append(f"{name}: port {port} is already used by {owner[port]} on {host}")
            else:
                owner[port] = name
    return problems
