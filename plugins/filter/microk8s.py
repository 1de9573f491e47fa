"""Filters for MicroK8s clusters: node roles and join order, join URLs, the exported kubeconfig
and inventory checks (logic in plugins/module_utils/microk8s/)."""

from ansible.errors import AnsibleFilterError

from ansible_collections.dsa.platform.plugins.module_utils.microk8s import checks, kubeconfig, nodes
from ansible_collections.dsa.platform.plugins.module_utils.microk8s.cli import (
    Microk8sError,
    join_url,
    parse_nodes_json,
    parse_snap_list,
    token_problem,
)


def microk8s_node_roles(groups, control_plane_group=nodes.CONTROL_PLANE_GROUP, worker_group=nodes.WORKER_GROUP):
    try:
        return nodes.node_roles(groups, control_plane_group, worker_group)
    except nodes.NodeRoleError as err:
        raise AnsibleFilterError(f"microk8s_node_roles: {err}") from err


def microk8s_join_url(info, token, address=None):
    """ADDRESS:PORT/TOKEN/FINGERPRINT from a microk8s_join_token result; address must be one it lists."""
    if not isinstance(info, dict) or not info.get("addresses") or not info.get("port"):
        raise AnsibleFilterError("microk8s_join_url: expects the result of dsa.platform.microk8s_join_token")
    problem = token_problem(token)
    if problem:
        raise AnsibleFilterError(f"microk8s_join_url: the token {problem}")
    if address in (None, ""):
        address = info["addresses"][0]
    return join_url(str(address), info["port"], token, info.get("fingerprint") or "")


def microk8s_kubeconfig_server(text, address, port=kubeconfig.API_PORT):
    try:
        return kubeconfig.rewrite_server(text, kubeconfig.api_server_url(address, port))
    except Microk8sError as err:
        raise AnsibleFilterError(f"microk8s_kubeconfig_server: {err}") from err


def microk8s_dns_address(service_cidr):
    try:
        return kubeconfig.dns_address(service_cidr)
    except Microk8sError as err:
        raise AnsibleFilterError(f"microk8s_dns_address: {err}") from err


def microk8s_snap_info(text, name="microk8s"):
    return parse_snap_list(text, name)


def microk8s_nodes(text):
    try:
        return parse_nodes_json(text)
    except Microk8sError as err:
        raise AnsibleFilterError(f"microk8s_nodes: {err}") from err


def microk8s_channel_problems(channel, name="microk8s_channel"):
    return checks.channel_problems(channel, name)


def microk8s_control_plane_problems(hosts, name="groups.microk8s_control_plane"):
    return checks.control_plane_count_problems(hosts, name)


def microk8s_cidr_problems(pod_cidr, service_cidr, node_networks=(), pod_name="microk8s_pod_cidr",
                           service_name="microk8s_service_cidr"):
    return checks.cidr_problems(pod_cidr, service_cidr, node_networks, pod_name, service_name)


class FilterModule:
    def filters(self):
        return {
            "microk8s_node_roles": microk8s_node_roles,
            "microk8s_join_url": microk8s_join_url,
            "microk8s_kubeconfig_server": microk8s_kubeconfig_server,
            "microk8s_dns_address": microk8s_dns_address,
            "microk8s_snap_info": microk8s_snap_info,
            "microk8s_nodes": microk8s_nodes,
            "microk8s_channel_problems": microk8s_channel_problems,
            "microk8s_control_plane_problems": microk8s_control_plane_problems,
            "microk8s_cidr_problems": microk8s_cidr_problems,
        }
