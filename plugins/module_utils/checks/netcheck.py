"""Check that inventory values are networks a pg_hba.conf (or a firewall) accepts.

A network must be written as an address, a slash and a prefix length (``10.20.0.0/16``,
``fd00::/64``, ``192.0.2.7/32``), with no host bits set to the right of the prefix:
PostgreSQL requires it and a typo such as ``10.20.0.1/16`` usually means the wrong range.
netaddr parses strictly (``inet_pton``), so short forms like ``10/8`` or ``10.1/16`` are refused.
"""

try:
    import netaddr

    HAS_NETADDR = True
except ImportError:  # pragma: no cover - netaddr is in the controller's requirements
    HAS_NETADDR = False


def network_problem(value):
    """Why value is not a usable network, or None when it is one."""
    if not HAS_NETADDR:
        raise ImportError("netaddr is required: pip install netaddr")
    if not isinstance(value, str):
        return f"must be a string like 10.0.0.0/8, not {type(value).__name__}"
    text = value.strip()
    if text != value or not text:
        return "must be a network like 10.0.0.0/8 without surrounding spaces"
    if "/" not in text:
        return "needs a prefix length, e.g. 192.0.2.7/32 for one host"
    address, prefix = text.split("/", 1)
    if not prefix.isdigit():
        return "the prefix length must be a number (write 10.0.0.0/8, not a netmask)"
    try:
        # The address alone with INET_PTON: netaddr < 1.0 would otherwise accept inet_aton forms.
        netaddr.IPAddress(address, flags=netaddr.INET_PTON)
        network = netaddr.IPNetwork(text)
    except (netaddr.AddrFormatError, ValueError, TypeError) as err:
        return f"not a valid network ({err})"
    if network.ip != network.network:
        return f"has host bits set; the network is {network.cidr}"
    return None


def invalid_networks(values):
    """Every entry of values that is not a valid network: a list of {index, value, reason}."""
    if values is None:
        return []
    if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
        return [{"index": None, "value": values, "reason": "must be a list of networks"}]
    problems = []
    for index, value in enumerate(values):
        reason = network_problem(value)
        if reason:
            problems.append({"index": index, "value": value, "reason": reason})
    return problems
