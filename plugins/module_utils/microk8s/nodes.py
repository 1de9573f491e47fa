"""Which inventory hosts are MicroK8s control-plane nodes and workers, and the order they join in.

The first host of the control-plane group creates the cluster; every other host joins it one at
a time, control-plane nodes first (so the datastore reaches its HA quorum early), then workers,
each in inventory order.
"""

CONTROL_PLANE_GROUP = "microk8s_control_plane"
WORKER_GROUP = "microk8s_workers"


class NodeRoleError(ValueError):
    """The groups do not describe a cluster; the message names the group to fix."""


def node_roles(groups, control_plane_group=CONTROL_PLANE_GROUP, worker_group=WORKER_GROUP):
    """{first, control_plane, workers, joining: [{host, worker}], all} from the inventory groups."""
    groups = groups or {}
    control_plane = list(dict.fromkeys(groups.get(control_plane_group) or []))
    workers = list(dict.fromkeys(groups.get(worker_group) or []))
    if not control_plane:
        raise NodeRoleError(f"groups.{control_plane_group}: the cluster needs at least one control-plane host")
    both = [host for host in workers if host in control_plane]
    if both:
        raise NodeRoleError(f"groups.{worker_group}: {', '.join(both)} also in {control_plane_group}; "
                            "a node is either control plane or worker")
    joining = [{"host": host, "worker": False} for host in control_plane[1:]]
    joining += [{"host": host, "worker": True} for host in workers]
    return {
        "first": control_plane[0],
        "control_plane": control_plane,
        "workers": workers,
        "joining": joining,
        "all": control_plane + workers,
    }


def missing_nodes(expected, present):
    """The expected node names (in order) that the cluster does not list yet."""
    present = set(present or [])
    return [name for name in expected if name not in present]
