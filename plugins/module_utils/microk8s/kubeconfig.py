"""The kubeconfig `microk8s config` prints, pointed at an address the controller can reach."""
import yaml

from ansible_collections.dsa.platform.plugins.module_utils.microk8s.cli import Microk8sError

API_PORT = 16443  # MicroK8s' kube-apiserver port


def dns_address(service_cidr):
    """The cluster DNS service address MicroK8s uses: the 10th address of the service network."""
    import netaddr

    try:
        network = netaddr.IPNetwork(str(service_cidr))
        return str(network[10])
    except (netaddr.AddrFormatError, ValueError, TypeError, IndexError) as err:
        raise Microk8sError(f"microk8s_service_cidr: {service_cidr!r} has no 10th address for the cluster DNS ({err})") from err


def api_server_url(address, port=API_PORT):
    host = f"[{address}]" if ":" in str(address) else str(address)
    return f"https://{host}:{int(port)}"


def rewrite_server(text, server):
    """The kubeconfig YAML with every cluster's server replaced by `server` (an https URL)."""
    if not isinstance(server, str) or not server.startswith("https://"):
        raise Microk8sError(f"the API server URL must start with https://, got {server!r}")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise Microk8sError(f"microk8s config did not print YAML ({err})") from err
    if not isinstance(data, dict) or not isinstance(data.get("clusters"), list) or not data["clusters"]:
        raise Microk8sError("microk8s config printed no kubeconfig with clusters (is this a worker node?)")
    for entry in data["clusters"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("cluster"), dict):
            raise Microk8sError("the kubeconfig has a cluster entry without a 'cluster' mapping")
        entry["cluster"]["server"] = server
    return yaml.safe_dump(data, default_flow_style=False, sort_keys=False)
