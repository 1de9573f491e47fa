"""Storage at the node level: no dynamic provisioner, so a StorageClass and a few pre-made volumes.

The StorageClass `dsa-local` (what inventories/local_k8s sets as dsa_k8s_storage_class) has no
provisioner and binds on first use (WaitForFirstConsumer), as local volumes do. Its volumes are
hostPath directories under the cluster's state dir, so `down` removes them with it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from localkube.util import LocalkubeError, atomic_write, log

STORAGE_CLASS = "dsa-local"
LABELS = {"app.kubernetes.io/managed-by": "localkube"}


def count() -> int:
    raw = os.environ.get("DSA_LOCALKUBE_VOLUMES", "4")
    if not raw.isdigit() or not 0 <= int(raw) <= 32:
        raise LocalkubeError(f"DSA_LOCALKUBE_VOLUMES={raw!r}: expected a number of volumes from 0 to 32")
    return int(raw)


def size() -> str:
    raw = os.environ.get("DSA_LOCALKUBE_VOLUME_SIZE", "20Gi")
    if not raw[:-2].isdigit() or raw[-2:] not in ("Mi", "Gi", "Ti"):
        raise LocalkubeError(f"DSA_LOCALKUBE_VOLUME_SIZE={raw!r}: expected a size like 20Gi")
    return raw


def volumes_dir(cluster) -> Path:
    return cluster.dir / "volumes"


def manifests(cluster) -> list[dict]:
    docs: list[dict] = [{
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": STORAGE_CLASS, "labels": LABELS},
        "provisioner": "kubernetes.io/no-provisioner",
        "volumeBindingMode": "WaitForFirstConsumer",
        "reclaimPolicy": "Retain",
    }]
    for i in range(1, count() + 1):
        path = volumes_dir(cluster) / f"pv{i}"
        docs.append({
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": f"{STORAGE_CLASS}-pv{i}", "labels": LABELS},
            "spec": {
                "storageClassName": STORAGE_CLASS,
                # Not enforced (a directory has no quota): only what claims are matched against.
                "capacity": {"storage": size()},
                "accessModes": ["ReadWriteOnce"],
                # No provisioner: a released volume keeps its data until `down` removes it.
                "persistentVolumeReclaimPolicy": "Retain",
                "hostPath": {"path": str(path), "type": "Directory"},
                "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [{
                    "key": "kubernetes.io/hostname", "operator": "In", "values": [cluster.node_name]}]}]}},
            },
        })
    return docs


def deploy(cluster) -> None:
    from localkube.cluster import kubectl
    n = count()
    for i in range(1, n + 1):
        path = volumes_dir(cluster) / f"pv{i}"
        path.mkdir(parents=True, exist_ok=True)
        # Pods run as any non-root uid and hostPath has no fsGroup: everyone may write here
        # (the state dir above it is root-only; the container sees only the bind mount).
        path.chmod(0o1777)
    out = cluster.dir / "storage.json"
    atomic_write(out, json.dumps({"apiVersion": "v1", "kind": "List", "items": manifests(cluster)}, indent=2) + "\n")
    kubectl(cluster, "apply", "--server-side", "--field-manager", "localkube", "-f", str(out))
    log(f"storage class {STORAGE_CLASS}: {n} hostPath volumes of {size()} under {volumes_dir(cluster)}")
