"""Platform state: a Kubernetes cluster through the ``kubernetes`` client when a kubeconfig is
configured, else the hosts of the inventory and the Prometheus targets."""
import os

import yaml

from . import SourceError
from . import prometheus


def kubernetes_state(kubeconfig: str, namespace: str = "", timeout: float = 10.0) -> dict:
    try:
        from kubernetes import client, config
        from kubernetes.client.rest import ApiException
    except ImportError:  # pragma: no cover - a dependency of this package
        raise SourceError("kubernetes", "the kubernetes client is not installed") from None
    if not os.path.isfile(kubeconfig):
        raise SourceError("kubernetes", f"kubeconfig {kubeconfig} does not exist")
    try:
        api_client = config.new_client_from_config(config_file=kubeconfig)
        core = client.CoreV1Api(api_client)
        auto = client.AutoscalingV2Api(api_client)
        kw = {"_request_timeout": timeout}
        nodes = core.list_node(**kw).items
        pods = (core.list_namespaced_pod(namespace, **kw) if namespace
                else core.list_pod_for_all_namespaces(**kw)).items
        events = (core.list_namespaced_event(namespace, **kw) if namespace
                  else core.list_event_for_all_namespaces(**kw)).items
        hpas = (auto.list_namespaced_horizontal_pod_autoscaler(namespace, **kw) if namespace
                else auto.list_horizontal_pod_autoscaler_for_all_namespaces(**kw)).items
    except ApiException as e:
        raise SourceError("kubernetes", f"API answered {e.status}: {e.reason}") from None
    except Exception as e:  # urllib3 connection errors, timeouts, bad kubeconfig
        raise SourceError("kubernetes", f"cluster unreachable: {type(e).__name__}: {e}") from None

    def ready(node):
        return any(c.type == "Ready" and c.status == "True" for c in (node.status.conditions or []))

    return {
        "mode": "kubernetes",
        "nodes": [{"name": n.metadata.name, "ready": ready(n),
                   "allocatable": dict(n.status.allocatable or {})} for n in nodes],
        "pods": [{"namespace": p.metadata.namespace, "name": p.metadata.name,
                  "phase": p.status.phase,
                  "restarts": sum(cs.restart_count for cs in (p.status.container_statuses or [])),
                  "requests": {c.name: dict((c.resources.requests or {}) if c.resources else {})
                               for c in p.spec.containers}} for p in pods],
        "events": [{"namespace": e.metadata.namespace, "type": e.type, "reason": e.reason,
                    "object": f"{e.involved_object.kind}/{e.involved_object.name}",
                    "message": (e.message or "")[:300], "count": e.count}
                   for e in events if e.type == "Warning"][-50:],
        "hpa": [{"namespace": h.metadata.namespace, "name": h.metadata.name,
                 "min": h.spec.min_replicas, "max": h.spec.max_replicas,
                 "current": h.status.current_replicas, "desired": h.status.desired_replicas}
                for h in hpas],
    }


def inventory_hosts(inventory_dir: str) -> dict:
    """Groups and hosts from the inventory's hosts.yml (YAML inventories only)."""
    path = None
    for name in ("hosts.yml", "hosts.yaml"):
        if os.path.isfile(os.path.join(inventory_dir, name)):
            path = os.path.join(inventory_dir, name)
    if path is None:
        raise SourceError("inventory", f"{inventory_dir} has no hosts.yml")
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f) or {}
    groups: dict[str, list[str]] = {}

    def walk(name, node):
        node = node or {}
        hosts = list((node.get("hosts") or {}).keys())
        groups.setdefault(name, []).extend(hosts)
        for child, sub in (node.get("children") or {}).items():
            walk(child, sub)
    for top, node in doc.items():
        walk(top, node)
    return groups


def host_state(settings) -> dict:
    out: dict = {"mode": "host", "groups": {}, "targets": [], "errors": []}
    if settings.inventory_dir:
        try:
            out["groups"] = inventory_hosts(settings.inventory_dir)
        except (SourceError, OSError, yaml.YAMLError) as e:
            out["errors"].append(str(e))
    if settings.prometheus_url:
        try:
            out["targets"] = prometheus.targets(settings.prometheus_url, settings.source_timeout)
        except SourceError as e:
            out["errors"].append(str(e))
    return out


def state(settings) -> dict:
    if settings.kubeconfig:
        return kubernetes_state(settings.kubeconfig, timeout=settings.source_timeout)
    return host_state(settings)
