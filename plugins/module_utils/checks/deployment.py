"""The inventory preflight of playbooks/validate.yml, as plain functions over plain data.

The action plugin ``dsa.platform.validate_inventory`` gathers the values (templated, so role
defaults derived from the platform variables are resolved) and calls these. Every function
returns a list of problems, each naming the variable or group to fix; nothing raises on bad
input, so one run reports everything at once.
"""
import importlib
import re

import netaddr

from ansible_collections.dsa.platform.plugins.module_utils.checks.inventory import (
    address_problems,
    network_problems,
    port_problems,
    url_problems,
)

# Every deployment configuration the collection knows, and the ones this version ships.
# The one place to change when microk8s ships: add it to AVAILABLE_PLATFORMS.
PLATFORMS = ("host", "microk8s")
AVAILABLE_PLATFORMS = ("host", "microk8s")

# Groups whose members must also be in `nodes` (the machines the collection manages).
MEMBER_GROUPS = ("postgresql", "iot_api", "observability", "dsa_agent")

# The variables host_problems reads for a host of each group in host mode (ports, instance
# count, client networks). Their values come from the roles' own defaults, which the play
# imports, or the inventory; never from here.
HOST_VARIABLES = {
    "nodes": ("node_exporter_port", "node_exporter_listen"),
    "postgresql": ("postgresql_port", "postgresql_exporter_port", "postgresql_allowed_networks"),
    "iot_api": ("iot_api_nginx_port", "iot_api_metrics_port", "iot_api_base_port", "iot_api_instances",
                "iot_api_metrics_allowed"),
    "observability": ("observability_prometheus_listen",),
    "dsa_agent": ("dsa_agent_port", "dsa_agent_ui_port", "dsa_agent_nginx_port", "dsa_agent_nginx_ui_port"),
}

# A role version without these simply has no such port (or no metrics proxy).
OPTIONAL_VARIABLES = ("iot_api_metrics_port", "iot_api_metrics_allowed", "node_exporter_listen")

# Cluster checks for the orchestrated configuration: a module whose inventory_problems(groups,
# hostvars) returns problem strings (owned by the microk8s work, imported only in that mode).
CLUSTER_CHECKS_MODULE = "ansible_collections.dsa.platform.plugins.module_utils.microk8s.checks"

# The orchestrated workloads are rendered and applied from the one host of this group (the
# machine holding the kubeconfig; playbooks/workloads.yml targets it).
K8S_CONTROLLER_GROUP = "k8s_controller"

# The platform variables the workloads need on that host, checked by k8s_problems (their defaults
# are in roles/platform/defaults/main.yml, so the play brings them into scope).
K8S_NAMESPACE_VARIABLES = ("dsa_k8s_database_namespace", "dsa_k8s_apps_namespace", "dsa_k8s_agent_namespace",
                           "dsa_k8s_monitoring_namespace")
K8S_VARIABLES = ("dsa_k8s_kubeconfig", "dsa_database_k8s_mode", "dsa_k8s_pod_security") + K8S_NAMESPACE_VARIABLES
DATABASE_K8S_MODES = ("k8s_simple", "k8s_operator")
POD_SECURITY_LEVELS = ("privileged", "baseline", "restricted")
# A namespace name is an RFC 1123 label: what the API server accepts (at most 63 characters).
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def host_variables(group_names):
    """The variables host_problems needs for a host in these groups (host mode)."""
    names = []
    for group in HOST_VARIABLES:
        if group in group_names:
            names.extend(HOST_VARIABLES[group])
    return names


def platform_problems(platform):
    if platform is None or platform == "":
        return ["dsa_platform: not set; use one of " + ", ".join(AVAILABLE_PLATFORMS)]
    if platform not in PLATFORMS:
        return [f"dsa_platform: {platform} is not one of " + ", ".join(PLATFORMS)]
    if platform not in AVAILABLE_PLATFORMS:
        return [f"dsa_platform: {platform} is not available in this version of dsa.platform; use "
                + ", ".join(AVAILABLE_PLATFORMS)]
    return []


def node_problems(groups, node_addresses):
    """Rules for every configuration. node_addresses: node -> its ansible_host (nodes that set one)."""
    nodes = list(groups.get("nodes") or [])
    problems = []
    if not nodes:
        problems.append("groups.nodes: the inventory needs a nodes group with the machines to manage")
    for group in MEMBER_GROUPS:
        for host in groups.get(group) or []:
            if host not in nodes:
                problems.append(f"groups.nodes: {host} is in group {group} but not in nodes")
    seen = {}
    for host, address in node_addresses.items():
        if host in nodes:
            seen.setdefault(address, []).append(host)
    for address, hosts in seen.items():
        if len(hosts) > 1:
            problems.append(f"ansible_host: {address} is given to more than one node")
    return problems


def api_url_problems(api_url):
    if api_url is None:
        return ["dsa_api_url: not set; the URL the load generator uses to reach the API"]
    return url_problems(api_url, "dsa_api_url")


def host_group_problems(groups):
    """Host mode: one database server, at least one API host, at most one Prometheus."""
    problems = []
    databases = groups.get("postgresql") or []
    if len(databases) != 1:
        problems.append("groups.postgresql: host mode runs exactly one PostgreSQL server; the inventory lists "
                        f"{len(databases)}")
    if not groups.get("iot_api"):
        problems.append("groups.iot_api: at least one host must run the IoT API")
    monitors = groups.get("observability") or []
    if len(monitors) > 1:
        problems.append(f"groups.observability: one Prometheus host is supported; the inventory lists {len(monitors)}")
    agents = groups.get("dsa_agent") or []
    if len(agents) > 1:
        problems.append(f"groups.dsa_agent: one agent host is supported; the inventory lists {len(agents)}")
    return problems


def cluster_problems(groups, hostvars, load=importlib.import_module):
    """Orchestrated mode: the microk8s package's checks."""
    return list(load(CLUSTER_CHECKS_MODULE).inventory_problems(groups, hostvars))


# Orchestrated mode: whether the collection installs the cluster (microk8s: the nodes of the
# microk8s groups) or deploys onto one that exists (reached only through dsa_k8s_kubeconfig).
K8S_CLUSTERS = ("microk8s", "existing")


def deployment_problems(platform, groups, node_addresses, api_url, hostvars=None, k8s_cluster="microk8s"):
    """Problems of the inventory as a whole (checked once per run)."""
    problems = platform_problems(platform)
    existing_cluster = platform == "microk8s" and k8s_cluster == "existing"
    if platform == "microk8s" and k8s_cluster not in K8S_CLUSTERS:
        problems.append(f"dsa_k8s_cluster: {k8s_cluster} is not one of " + ", ".join(K8S_CLUSTERS))
    if not existing_cluster:
        problems.extend(node_problems(groups, node_addresses))
    problems.extend(api_url_problems(api_url))
    if platform == "host":
        problems.extend(host_group_problems(groups))
    elif platform == "microk8s" and platform in AVAILABLE_PLATFORMS:
        if not existing_cluster:
            problems.extend(cluster_problems(groups, hostvars or {}))
        problems.extend(k8s_controller_problems(groups))
    return problems


def k8s_controller_problems(groups):
    """Orchestrated mode: exactly one host renders and applies the workloads."""
    controllers = list(groups.get(K8S_CONTROLLER_GROUP) or [])
    if len(controllers) != 1:
        listed = ", ".join(controllers) if controllers else "none"
        return [f"groups.{K8S_CONTROLLER_GROUP}: the orchestrated configuration needs exactly one host that holds the "
                f"kubeconfig and applies the workloads (usually localhost); the inventory lists {listed}"]
    return []


def k8s_problems(host, values):
    """Orchestrated mode, on the k8s_controller host: the platform's Kubernetes variables.

    values maps the names in K8S_VARIABLES to their templated values; a missing one is undefined.
    """
    problems = []
    kubeconfig = values.get("dsa_k8s_kubeconfig")
    if not isinstance(kubeconfig, str) or not kubeconfig.strip():
        problems.append(f"dsa_k8s_kubeconfig: not set for {host}; the path of the kubeconfig the workloads are "
                        "applied through (the one the microk8s role exports)")
    mode = values.get("dsa_database_k8s_mode")
    if mode not in DATABASE_K8S_MODES:
        problems.append(f"dsa_database_k8s_mode: {mode!r} is not one of " + ", ".join(DATABASE_K8S_MODES))
    level = values.get("dsa_k8s_pod_security")
    if level not in POD_SECURITY_LEVELS:
        problems.append(f"dsa_k8s_pod_security: {level!r} is not a Pod Security level; use one of "
                        + ", ".join(POD_SECURITY_LEVELS))
    for name in K8S_NAMESPACE_VARIABLES:
        namespace = values.get(name)
        if not isinstance(namespace, str) or len(namespace) > 63 or not DNS1123_LABEL.match(namespace):
            problems.append(f"{name}: {namespace!r} is not a valid namespace name (a DNS-1123 label: at most 63 "
                            "lower-case letters, digits and '-', starting and ending with a letter or digit)")
    return problems


def _listen_port(listen):
    """The port of an "address:port" listen string (IPv6 addresses are bracketed)."""
    return str(listen).rsplit(":", 1)[-1]


def host_ports(group_names, values):
    """Variable name -> the TCP port(s) this host uses for it, from the roles' variables."""
    ports = {}
    if "nodes" in group_names:
        ports["node_exporter_port"] = values["node_exporter_port"]
    if "postgresql" in group_names:
        ports["postgresql_port"] = values["postgresql_port"]
        ports["postgresql_exporter_port"] = values["postgresql_exporter_port"]
    if "iot_api" in group_names:
        ports["iot_api_nginx_port"] = values["iot_api_nginx_port"]
        if values.get("iot_api_metrics_port") is not None:
            ports["iot_api_metrics_port"] = values["iot_api_metrics_port"]
        base, count = _int(values["iot_api_base_port"]), _int(values["iot_api_instances"])
        ports["iot_api_base_port..+iot_api_instances"] = (
            list(range(base, base + count)) if base is not None and count is not None else values["iot_api_base_port"])
    if "observability" in group_names:
        ports["observability_prometheus_listen"] = _listen_port(values["observability_prometheus_listen"])
    if "dsa_agent" in group_names:
        for name in HOST_VARIABLES["dsa_agent"]:
            ports[name] = values[name]
    return ports


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _loopback(listen):
    """Whether an "address:port" listen string binds to loopback only."""
    host = str(listen).rsplit(":", 1)[0].strip("[]")
    if host in ("localhost",):
        return True
    try:
        return netaddr.IPAddress(host).is_loopback()
    except (netaddr.AddrFormatError, ValueError, TypeError):
        return False


def _admits(networks, address):
    """Whether an allow list of CIDR networks admits this address (invalid entries admit nothing)."""
    for network in networks or []:
        try:
            if netaddr.IPAddress(address) in netaddr.IPNetwork(str(network)):
                return True
        except (netaddr.AddrFormatError, ValueError, TypeError):
            continue
    return False


def scrape_problems(host, group_names, values, prometheus):
    """Host mode: can Prometheus reach this host's metrics? prometheus is (host, address or None).

    The address is the Prometheus host's ansible_host when that is an IP address; a named host's
    address is only known from its facts at deploy time, where the iot_api role checks it.
    """
    monitor, monitor_address = prometheus
    if monitor is None:
        return []
    problems = []
    listen = values.get("node_exporter_listen")
    if "nodes" in group_names and monitor != host and listen is not None and _loopback(listen):
        problems.append(f"node_exporter_listen: {listen} on {host} is loopback only, so Prometheus on {monitor} "
                        "cannot scrape it; listen on an address it reaches")
    allowed = values.get("iot_api_metrics_allowed")
    if "iot_api" in group_names and allowed is not None:
        needed = "127.0.0.1" if monitor == host else monitor_address
        if needed is not None and _is_ip(needed) and not _admits(allowed, needed):
            problems.append(f"iot_api_metrics_allowed: on {host} it does not admit {needed} (Prometheus on {monitor}), "
                            "so every API instance would be down; add that address as a network")
    return problems


def _is_ip(value):
    try:
        netaddr.IPAddress(str(value))
        return True
    except (netaddr.AddrFormatError, ValueError, TypeError):
        return False


def host_problems(platform, host, group_names, address, values, prometheus=(None, None)):
    """Problems of one host: its address and, in host mode, its instance count, port plan and
    whether Prometheus (``prometheus``: its host and ansible_host) can scrape it.

    address is its ansible_host (None when unset); values holds host_variables(group_names),
    a missing one meaning the variable is undefined.
    """
    problems = []
    if address is not None:
        problems.extend(address_problems(address, f"ansible_host ({host})"))
    if platform != "host":
        return problems
    missing = [name for name in host_variables(group_names) if name not in values and name not in OPTIONAL_VARIABLES]
    for name in missing:
        problems.append(f"{name}: not defined for {host} (the play must import the role that defines it)")
    if missing:
        return problems
    if "postgresql" in group_names:
        problems.extend(network_problems(values["postgresql_allowed_networks"], "postgresql_allowed_networks"))
    if "iot_api" in group_names and not (_int(values["iot_api_instances"]) or 0) >= 1:
        problems.append(f"iot_api_instances: must be at least 1 on {host}")
    problems.extend(port_problems(host_ports(group_names, values), host))
    problems.extend(scrape_problems(host, group_names, values, prometheus))
    return problems
