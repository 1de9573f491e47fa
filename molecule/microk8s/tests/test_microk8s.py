"""SIMULATION: verify the microk8s role's control flow against the snap/microk8s stand-ins of
prepare.yml (MicroK8s itself cannot be installed on the build machines). One control-plane node,
two workers. The stand-ins record every call and the first node's simulated cluster agent records
every token and join, so these checks see what the role asked MicroK8s to do and in which order."""
import json
import os

import pytest
import testinfra
import yaml

CP = "dsa-mol-mk8s-cp1"
WORKERS = ("dsa-mol-mk8s-w1", "dsa-mol-mk8s-w2")
ALL = (CP,) + WORKERS


@pytest.fixture(scope="module")
def hosts():
    return {name: testinfra.get_host(f"podman://{name}") for name in ALL}


def calls(host, path):
    text = host.file(path).content_string if host.file(path).exists else ""
    return [json.loads(line)["argv"] for line in text.splitlines() if line.strip()]


def snap_calls(host):
    return calls(host, "/var/lib/standin-snap/calls.log")


def microk8s_calls(host):
    return calls(host, "/var/snap/microk8s/common/standin-calls.log")


def state(host):
    return json.loads(host.file("/var/snap/microk8s/current/standin-state.json").content_string)


def test_simulation_snap_installed_only_where_missing_refreshed_where_off_channel(hosts):
    """cp1 had no MicroK8s: one install on the pinned channel. w1 tracked 1.36: one refresh, no
    install. w2 had the pinned channel already: neither. Converge and idempotence ran the role twice."""
    verbs = {name: [c[0] for c in snap_calls(host) if c[0] in ("install", "refresh") and "--hold" not in c]
             for name, host in hosts.items()}
    assert verbs == {CP: ["install"], WORKERS[0]: ["refresh"], WORKERS[1]: []}
    assert ["install", "microk8s", "--classic", "--channel=1.37/stable"] in snap_calls(hosts[CP])
    assert ["refresh", "microk8s", "--channel=1.37/stable"] in snap_calls(hosts[WORKERS[0]])
    for name, host in hosts.items():
        listing = host.check_output("snap list microk8s")
        assert "1.37/stable" in listing and "held" in listing, f"{name}: {listing}"


def test_simulation_launch_configuration_was_in_place_before_install(hosts):
    """The stand-in install copies the launch configuration as MicroK8s' install hook does: the copy
    proves the role wrote it first, with the SANs, kubelet flags and CIDRs of the inventory."""
    launch = yaml.safe_load(hosts[CP].file("/var/snap/microk8s/common/etc/launcher/install.yaml").content_string)
    assert launch["version"] == "0.1.0"
    assert "cp.example.test" in launch["extraSANs"]
    assert launch["extraKubeletArgs"] == {"--cluster-domain": "cluster.local", "--cluster-dns": "10.152.183.10",
                                          "--max-pods": "150"}
    assert launch["extraCNIEnv"]["IPv4_CLUSTER_CIDR"] == "10.1.0.0/16"
    assert launch["extraCNIEnv"]["IPv4_SERVICE_CIDR"] == "10.152.183.0/24"
    assert hosts[CP].file("/var/snap/microk8s/common/.microk8s.yaml").mode == 0o600


def test_simulation_one_token_per_joining_node_each_used_once(hosts):
    tokens = state(hosts[CP])["tokens"]
    assert len(tokens) == 2, "one add-node per joining node, and none on the idempotence run"
    assert sorted(user for t in tokens.values() for user in t["used_by"]) == sorted(WORKERS)
    assert all(len(t["used_by"]) == 1 for t in tokens.values())
    assert all(len(token) == 32 for token in tokens)
    add_nodes = [c for c in microk8s_calls(hosts[CP]) if c[0] == "add-node"]
    assert [c[c.index("--token-ttl") + 1] for c in add_nodes] == ["300", "300"]
    assert all(c[-2:] == ["--format", "json"] for c in add_nodes)


def test_simulation_nodes_joined_one_at_a_time_in_inventory_order_as_workers(hosts):
    nodes = state(hosts[CP])["nodes"]
    assert sorted(nodes, key=lambda n: nodes[n]["order"]) == [CP, *WORKERS]
    assert [nodes[w]["worker"] for w in WORKERS] == [True, True]
    for worker in WORKERS:
        joins = [c for c in microk8s_calls(hosts[worker]) if c[0] == "join"]
        assert len(joins) == 1 and joins[0][-1] == "--worker", joins
        assert state(hosts[worker])["role"] == "worker"
    # The agent refuses a join while another is being admitted (2 s); both got in, so the
    # second started after the first finished.
    assert nodes[WORKERS[1]]["joined_at"] - nodes[WORKERS[0]]["joined_at"] >= 2


def test_simulation_addons_from_the_first_node_only_once_each_with_arguments(hosts):
    performed = [(c["action"], c["addon"], c["args"]) for c in state(hosts[CP])["addon_calls"]]
    assert performed == [
        ("enable", "core/dns", ["10.89.73.1"]),
        ("enable", "core/rbac", []),
        ("enable", "core/hostpath-storage", []),
        ("enable", "core/ingress", []),
        ("enable", "core/metrics-server", []),
        ("enable", "core/registry", ["--size", "5Gi"]),
        ("enable", "core/observability", []),
        ("disable", "core/helm", []),
    ]
    for worker in WORKERS:
        assert not [c for c in microk8s_calls(hosts[worker]) if c[0] in ("enable", "disable", "add-node")]
        assert state(hosts[worker])["addon_calls"] == []


def test_simulation_workers_never_asked_for_status_after_joining(hosts):
    """MicroK8s refuses `status` on a worker (exit 1); the role waits on the first node instead."""
    for worker in WORKERS:
        seen = [c[0] for c in microk8s_calls(hosts[worker])]
        assert seen.index("join") == len(seen) - 1 - seen[::-1].index("join")  # one join
        assert "status" not in seen[seen.index("join") + 1:]


def test_simulation_kubeconfig_exported_with_the_reachable_server_and_private():
    path = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "credentials", "kubeconfig-microk8s")
    assert os.stat(path).st_mode & 0o777 == 0o600
    with open(path, encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    assert config["clusters"][0]["cluster"]["server"] == "https://cp.example.test:16443"
    assert config["users"][0]["name"] == "admin"
