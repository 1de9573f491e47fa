"""Inventory checks for a MicroK8s cluster, called by playbooks/validate.yml (through
plugins/module_utils/checks/deployment.py) and usable on their own.

Every function returns a list of problem strings, each naming the variable or group to fix;
an empty list means the value is fine. Nothing raises on bad input.
"""
import re

from ansible_collections.dsa.platform.plugins.module_utils.checks.netcheck import network_problem
from ansible_collections.dsa.platform.plugins.module_utils.microk8s.nodes import (
    CONTROL_PLANE_GROUP,
    WORKER_GROUP,
    NodeRoleError,
    node_roles,
)

try:
    import netaddr
except ImportError:  # pragma: no cover - netaddr is in the controller's requirements
    netaddr = None

# A snap channel as the role accepts it: a pinned Kubernetes minor or latest, then the risk.
CHANNEL = re.compile(r"^(?:(?P<major>[1-9][0-9]*)\.(?P<minor>[0-9]+)|latest)/(?P<risk>stable|candidate|beta|edge)$")

# The role's defaults for the values checked here (roles/microk8s/defaults/main.yml; a unit test
# keeps them equal). Role defaults are not in hostvars, so an inventory that sets none of them is
# checked against these.
DEFAULTS = {
    "microk8s_channel": "1.37/stable",
    "microk8s_pod_cidr": "10.1.0.0/16",
    "microk8s_service_cidr": "10.152.183.0/24",
    "microk8s_node_networks": [],
}


def channel_problems(channel, name="microk8s_channel"):
    """`<major>.<minor>/<risk>` (e.g. 1.37/stable) or `latest/<risk>`."""
    if not isinstance(channel, str) or not CHANNEL.match(channel):
        return [f"{name}: {channel!r} is not a snap channel of the form <major.minor>/<risk> "
                "(e.g. 1.37/stable) or latest/<risk>; risk is stable, candidate, beta or edge"]
    return []


def control_plane_count_problems(hosts, name=f"groups.{CONTROL_PLANE_GROUP}"):
    """One control-plane node, or an odd number of at least three for an HA datastore quorum."""
    count = len(list(hosts or []))
    if count == 0:
        return [f"{name}: the cluster needs at least one control-plane host"]
    if count % 2 == 0:
        return [f"{name}: {count} control-plane hosts; HA needs an odd number (1, or 3, 5 ...) so the "
                "datastore keeps a quorum when one fails; move one to groups.microk8s_workers or add one"]
    return []


def _network(value):
    """A netaddr network for a CIDR or a single address, or None."""
    try:
        return netaddr.IPNetwork(str(value))
    except (netaddr.AddrFormatError, ValueError, TypeError):
        return None


def cidr_problems(pod_cidr, service_cidr, node_networks=(), pod_name="microk8s_pod_cidr",
                  service_name="microk8s_service_cidr", nodes_name="microk8s_node_networks"):
    """Both CIDRs valid networks, disjoint, and apart from every node network or node address.

    node_networks: a list of (label, CIDR or address) pairs, or of plain CIDRs/addresses (then
    labelled nodes_name[i]).
    """
    if netaddr is None:  # pragma: no cover
        return ["netaddr is required on the controller: pip install netaddr"]
    problems = []
    valid = {}
    for name, value in ((pod_name, pod_cidr), (service_name, service_cidr)):
        reason = network_problem(value)
        if reason:
            problems.append(f"{name}: {value!r} {reason}")
        else:
            valid[name] = netaddr.IPNetwork(value)
    if len(valid) == 2 and valid[pod_name].version == valid[service_name].version:
        if valid[pod_name] in valid[service_name] or valid[service_name] in valid[pod_name] or (
                valid[pod_name].first <= valid[service_name].last and valid[service_name].first <= valid[pod_name].last):
            problems.append(f"{service_name}: {service_cidr} overlaps {pod_name} {pod_cidr}; "
                            "pods and services need separate ranges")
    for index, entry in enumerate(node_networks or []):
        label, value = entry if isinstance(entry, (tuple, list)) else (f"{nodes_name}[{index}]", entry)
        network = _network(value)
        if network is None:
            problems.append(f"{label}: {value!r} is not a network or an address")
            continue
        for name, cidr in valid.items():
            if cidr.version == network.version and cidr.first <= network.last and network.first <= cidr.last:
                problems.append(f"{name}: {cidr} overlaps the node network {value} ({label}); "
                                "choose a range the nodes do not use")
    return problems


def _value(hostvars, host, name, problems):
    """hostvars[host][name] templated, else the role default; resolution errors become problems."""
    try:
        variables = hostvars[host]
        if name in variables:
            return variables[name]
    except Exception as err:  # noqa: BLE001 - any templating error is reported, never raised
        problems.append(f"{name}: cannot be resolved for {host}: {err}")
        return None
    return DEFAULTS[name]


def inventory_problems(groups, hostvars):
    """Every MicroK8s problem of an inventory (dsa_platform=microk8s), naming what to fix."""
    problems = []
    try:
        roles = node_roles(groups)
    except NodeRoleError as err:
        return [str(err)]
    nodes = set(groups.get("nodes") or [])
    for group in (CONTROL_PLANE_GROUP, WORKER_GROUP):
        for host in groups.get(group) or []:
            if host not in nodes:
                problems.append(f"groups.nodes: {host} is in group {group} but not in nodes")
    problems.extend(control_plane_count_problems(roles["control_plane"]))
    first = roles["first"]
    channel = _value(hostvars, first, "microk8s_channel", problems)
    problems.extend(channel_problems(channel))
    for host in roles["all"]:
        other = _value(hostvars, host, "microk8s_channel", problems)
        if other != channel and not channel_problems(other):
            problems.append(f"microk8s_channel: {host} has {other} but {first} has {channel}; "
                            "every node of a cluster runs the same channel")
    node_networks = []
    for index, network in enumerate(_value(hostvars, first, "microk8s_node_networks", problems) or []):
        node_networks.append((f"microk8s_node_networks[{index}]", network))
    for host in roles["all"]:
        try:
            address = hostvars[host]["ansible_host"] if "ansible_host" in hostvars[host] else None
        except Exception:  # noqa: BLE001 - reported by the generic ansible_host check
            address = None
        if address is not None and _network(address) is not None and "/" not in str(address):
            node_networks.append((f"ansible_host ({host})", address))
    problems.extend(cidr_problems(
        _value(hostvars, first, "microk8s_pod_cidr", problems),
        _value(hostvars, first, "microk8s_service_cidr", problems),
        node_networks,
    ))
    return problems
