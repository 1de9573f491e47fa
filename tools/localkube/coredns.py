"""Cluster DNS for the node level: CoreDNS from its Go module, in a scratch image, as a Deployment."""
from __future__ import annotations

import json
from pathlib import Path

from localkube import build as lkbuild
from localkube import images
from localkube.util import LocalkubeError, pins

DNS_IP = "10.96.0.10"
# Unprivileged port inside the pod (no NET_BIND_SERVICE needed); the Service answers on 53.
PORT = 1053


def ensure_binary() -> Path:
    return lkbuild.go_build("github.com/coredns/coredns", pins()["coredns"], ".", "coredns")


def image_name() -> str:
    return f"localhost/dsa-localkube-coredns:{pins()['coredns']}"


def ensure_image() -> str:
    name = image_name()
    if images.exists(name):
        return name
    src = ensure_binary()
    ctr = images.buildah("from", "scratch", what="buildah from scratch").stdout.strip()
    images.buildah("copy", ctr, str(src), "/coredns", what="buildah copy coredns")
    images.buildah("config", "--entrypoint", '["/coredns"]', "--user", "65534:65534", ctr,
                   what="buildah config coredns")
    images.buildah("commit", "--rm", ctr, name, what="buildah commit coredns")
    return name


def manifests(image: str) -> str:
    ns = "kube-system"
    labels = {"k8s-app": "kube-dns"}
    corefile = f""".:{PORT} {{
    errors
    health :8080
    ready :8181
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
    forward . /etc/resolv.conf
    cache 30
    loop
}}
"""
    objs = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "coredns", "namespace": ns}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "system:coredns"},
         "rules": [{"apiGroups": [""], "resources": ["endpoints", "services", "pods", "namespaces"],
                    "verbs": ["list", "watch"]},
                   {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": "system:coredns"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:coredns"},
         "subjects": [{"kind": "ServiceAccount", "name": "coredns", "namespace": ns}]},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "coredns", "namespace": ns},
         "data": {"Corefile": corefile}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "coredns", "namespace": ns, "labels": labels},
         "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
             "metadata": {"labels": labels},
             "spec": {"serviceAccountName": "coredns", "dnsPolicy": "Default", "priorityClassName": "system-cluster-critical",
                      "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "seccompProfile": {"type": "RuntimeDefault"}},
                      "containers": [{
                          "name": "coredns", "image": image, "imagePullPolicy": "Never",
                          "args": ["-conf", "/etc/coredns/Corefile"],
                          "ports": [{"containerPort": PORT, "protocol": "UDP", "name": "dns"},
                                    {"containerPort": PORT, "protocol": "TCP", "name": "dns-tcp"}],
                          "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181}, "periodSeconds": 1},
                          "livenessProbe": {"httpGet": {"path": "/health", "port": 8080}, "periodSeconds": 10},
                          "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                              "capabilities": {"drop": ["ALL"]}},
                          "volumeMounts": [{"name": "config", "mountPath": "/etc/coredns", "readOnly": True}],
                          "resources": {"requests": {"cpu": "50m", "memory": "40Mi"}, "limits": {"memory": "170Mi"}},
                      }],
                      "volumes": [{"name": "config", "configMap": {"name": "coredns"}}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kube-dns", "namespace": ns, "labels": labels},
         "spec": {"clusterIP": DNS_IP, "selector": labels,
                  "ports": [{"name": "dns", "port": 53, "targetPort": PORT, "protocol": "UDP"},
                            {"name": "dns-tcp", "port": 53, "targetPort": PORT, "protocol": "TCP"}]}},
    ]
    return "\n---\n".join(json.dumps(o) for o in objs)


def deploy(cluster, sock: Path) -> None:
    from localkube.cluster import kubectl
    name = ensure_image()
    images.ctr_import(name, sock, cluster.dir / "tmp")
    path = cluster.dir / "coredns.yaml"
    path.write_text(manifests(name))
    kubectl(cluster, "apply", "--server-side", "--field-manager", "localkube", "-f", str(path))


def ready(cluster) -> bool:
    from localkube.cluster import kubectl
    out = kubectl(cluster, "-n", "kube-system", "get", "deployment", "coredns", "-o",
                  "jsonpath={.status.readyReplicas}", check=False, timeout=10)
    if out.returncode != 0:
        raise LocalkubeError(out.stderr.strip())
    return out.stdout.strip() == "1"
