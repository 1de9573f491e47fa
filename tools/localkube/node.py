"""The node level: containerd, kube-scheduler, kubelet, kube-proxy and a bridge CNI; undone on stop.

Everything the node changes outside its state dir is recorded first (kernel settings, iptables
chains, network namespaces, cgroups, directories) so that `down` restores exactly that.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

from localkube import coredns, images, procs, storage
from localkube.util import LocalkubeError, atomic_write, log, state_root

# Only these global kernel settings are changed (the kubelet insists on them), restored on stop.
KUBELET_SYSCTLS = {"vm/overcommit_memory": "1", "kernel/panic": "10", "kernel/panic_on_oops": "1"}
# Pod -> Service -> pod traffic is routed through the bridge, so IPv4 forwarding must be on (the
# bridge CNI plugin would turn it on anyway). Restored on stop unless another container network
# (podman's netns-*, which needs it and sets it itself) is in use at that moment.
FORWARD_SYSCTLS = {"net/ipv4/ip_forward": "1"}
WATCHED_SYSCTLS = tuple(FORWARD_SYSCTLS)
BRIDGE = "lkcni0"
POD_CIDR = "10.244.0.0/24"
CNI_NETWORK = "dsa-localkube"
CGROUP_ROOT = Path("/sys/fs/cgroup")
CHAIN_RE = re.compile(r"^(KUBE-|CNI-)")
KUBELET_PORT = 10250


def node_ip() -> str:
    """The address of the default route: the kubelet refuses a loopback node IP."""
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.254", 9))  # UDP connect sends nothing; it only picks a route
            ip = s.getsockname()[0]
        except OSError:
            ip = ""
    if not ip or ip.startswith("127."):
        raise LocalkubeError("no non-loopback IPv4 address with a route: the kubelet needs one as its node IP")
    return ip


def coredns_enabled() -> bool:
    return os.environ.get("DSA_LOCALKUBE_COREDNS", "1") != "0"


def _read_sysctl(key: str) -> str:
    return Path("/proc/sys", key).read_text().strip()


def _write_sysctl(key: str, value: str) -> None:
    Path("/proc/sys", key).write_text(value + "\n")


def other_node_cluster(name: str) -> str | None:
    root = state_root()
    if not root.is_dir():
        return None
    for st in root.glob("*/state.json"):
        if st.parent.name == name:
            continue
        try:
            data = json.loads(st.read_text())
        except (OSError, ValueError):
            continue
        if data.get("level") == "node" and any(
                procs.alive(p["pid"], p["marker"]) for p in data.get("procs", {}).values()):
            return st.parent.name
    return None


def run_dir(cluster) -> Path:
    # Short path: containerd's sockets must stay under the 108-byte unix socket limit.
    return Path("/run/dsa-localkube") / cluster.name


def _chains() -> dict[str, list[str]]:
    out = {}
    for tool in ("iptables", "ip6tables"):
        if not shutil.which(f"{tool}-save"):
            continue
        proc = subprocess.run([f"{tool}-save"], capture_output=True, text=True, timeout=30, check=False)
        table = None
        names = []
        for line in proc.stdout.splitlines():
            if line.startswith("*"):
                table = line[1:]
            elif line.startswith(":") and table:
                names.append(f"{table}/{line[1:].split()[0]}")
        out[tool] = names
    return out


def _netns() -> list[str]:
    d = Path("/run/netns")
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


def _foreign_netns(snap: dict) -> list[str]:
    """Network namespaces not made by our CNI (e.g. podman's) that exist now."""
    return [n for n in _netns() if not n.startswith("cni-")]


def _cgroup_kubepods() -> list[str]:
    return sorted(str(p) for p in CGROUP_ROOT.glob("*/kubepods") if p.is_dir())


SHARED_DIRS = ("/var/log/containers", "/var/log/pods", "/var/lib/cni/results", "/run/containerd", "/run/netns")


def snapshot() -> dict:
    return {
        "sysctls": {k: _read_sysctl(k) for k in (*KUBELET_SYSCTLS, *WATCHED_SYSCTLS)},
        "chains": _chains(),
        "netns": _netns(),
        "kubepods_cgroups": _cgroup_kubepods(),
        "dirs_existed": {d: os.path.exists(d) for d in SHARED_DIRS},
        "bridge_existed": Path(f"/sys/class/net/{BRIDGE}").exists(),
    }


def containerd_config(cluster) -> tuple[Path, Path]:
    rdir = run_dir(cluster)
    sock = rdir / "containerd.sock"
    conf = cluster.dir / "containerd" / "config.toml"
    text = f"""version = 2
root = "{cluster.dir / 'containerd' / 'root'}"
state = "{rdir / 'state'}"
# No CAP_SYS_RESOURCE here: never ask for a lower oom_score_adj than our own.
oom_score = 0
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "{sock}"

[ttrpc]
  address = "{sock}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "{cluster.dir / 'containerd' / 'opt'}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{images.PAUSE_IMAGE}"
  # Without CAP_SYS_RESOURCE every sandbox fails on oom_score_adj unless restricted.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        # Hybrid cgroup v1 with the kubelet's cgroupfs driver.
        SystemdCgroup = false
        BinaryName = "{shutil.which('runc') or '/usr/sbin/runc'}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    # /etc/cni/net.d holds podman's bridge: containerd gets its own.
    conf_dir = "{cluster.dir / 'cni' / 'net.d'}"
    max_conf_num = 1
"""
    atomic_write(conf, text)
    cni = {
        "cniVersion": "0.4.0", "name": CNI_NETWORK,
        "plugins": [{
            "type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": False, "hairpinMode": True,
            "ipam": {"type": "host-local", "ranges": [[{"subnet": POD_CIDR}]], "routes": [{"dst": "0.0.0.0/0"}],
                     "dataDir": str(cluster.dir / "cni" / "ipam")},
        }],
    }
    atomic_write(cluster.dir / "cni" / "net.d" / "10-localkube.conflist", json.dumps(cni, indent=2) + "\n")
    return conf, sock


def kubelet_config(cluster, sock: Path, node_ip: str) -> Path:
    k = cluster.pki
    text = f"""apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This VM has hybrid cgroup v1: allowed on the 1.37 line only when asked for.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupsPerQOS: true
enforceNodeAllocatable: [pods]
# No CAP_SYS_RESOURCE: keep our own score.
oomScoreAdj: 0
# The three kernel settings are set by localkube before start; the kubelet only checks them.
protectKernelDefaults: true
containerRuntimeEndpoint: unix://{sock}
# The node IP, not loopback: the apiserver reaches the kubelet there (exec, logs).
address: {node_ip}
port: {KUBELET_PORT}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: {k / 'kubelet-serving.crt'}
tlsPrivateKeyFile: {k / 'kubelet-serving.key'}
authentication:
  anonymous: {{enabled: false}}
  webhook: {{enabled: true}}
  x509: {{clientCAFile: {k / 'ca.crt'}}}
authorization: {{mode: Webhook}}
clusterDomain: cluster.local
{"clusterDNS: [" + coredns.DNS_IP + "]" if coredns_enabled() else "# no cluster DNS (DSA_LOCALKUBE_COREDNS=0)"}
failSwapOn: false
podLogsDir: {cluster.dir / 'pod-logs'}
serializeImagePulls: false
# A shared build machine's disk is not ours to police: only evict when nearly full.
evictionHard: {{memory.available: 100Mi, nodefs.available: 2%, imagefs.available: 2%}}
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
maxPods: 60
"""
    path = cluster.dir / "kubelet" / "config.yaml"
    atomic_write(path, text)
    return path


def kube_proxy_config(cluster) -> Path:
    text = f"""apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: {cluster.dir / 'kube-proxy.kubeconfig'}
hostnameOverride: {cluster.node_name}
mode: iptables
clusterCIDR: {POD_CIDR}
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
oomScoreAdj: 0
# Zero conntrack values: kube-proxy leaves the global nf_conntrack settings alone.
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
iptables:
  # Else kube-proxy sets net.ipv4.conf.all.route_localnet.
  localhostNodePorts: false
"""
    path = cluster.dir / "kube-proxy" / "config.yaml"
    atomic_write(path, text)
    return path


def ctr(sock: Path, *args: str, timeout: float = 60, check: bool = True):
    from localkube.util import run
    return run(["ctr", "--address", str(sock), "-n", "k8s.io", *args], what=f"ctr {' '.join(args[:2])}",
               timeout=timeout, check=check)


def up(cluster, state: dict, bins: Path) -> None:
    from localkube.cluster import WAIT, kubectl
    if procs.port_in_use(KUBELET_PORT) or procs.port_in_use(10256):
        raise LocalkubeError(f"port {KUBELET_PORT} (kubelet) or 10256 (kube-proxy) is in use by another process")
    # Bad volume settings fail before anything starts.
    storage.count(), storage.size()
    state["node"] = snapshot()
    cluster.save(state)
    # Images first (buildah, before any node process runs): a missing base fails early.
    images.ensure_pause()
    if coredns_enabled():
        coredns.ensure_image()
    for key, value in {**KUBELET_SYSCTLS, **FORWARD_SYSCTLS}.items():
        if _read_sysctl(key) != value:
            log(f"setting {key.replace('/', '.')}={value} (restored on down)")
            _write_sysctl(key, value)
    conf, sock = containerd_config(cluster)
    state["containerd_sock"] = str(sock)
    run_dir(cluster).mkdir(parents=True, exist_ok=True)
    pid, logf = cluster._start(state, "containerd", ["containerd", "--config", str(conf)])
    procs.wait_for("containerd", lambda: ctr(sock, "version", timeout=5, check=False).returncode == 0,
                   timeout=WAIT, pid=pid, log_file=logf, marker=cluster.marker())
    images.ctr_import(images.PAUSE_IMAGE, sock, cluster.dir / "tmp")

    ports = state["ports"]
    ports["scheduler"] = procs.free_port()
    skc = str(cluster.dir / "scheduler.kubeconfig")
    pid, logf = cluster._start(state, "kube-scheduler", [
        str(bins / "kube-scheduler"), "--kubeconfig", skc, "--authentication-kubeconfig", skc,
        "--authorization-kubeconfig", skc, "--bind-address", "127.0.0.1",
        "--secure-port", str(ports["scheduler"]), "--leader-elect=false", "--v=1"])
    procs.wait_for("kube-scheduler", procs.healthz(f"https://127.0.0.1:{ports['scheduler']}/healthz"),
                   timeout=WAIT, pid=pid, log_file=logf, marker=cluster.marker())

    kcfg = kubelet_config(cluster, sock, state["node_ip"])
    pid, logf = cluster._start(state, "kubelet", [
        str(bins / "kubelet"), "--config", str(kcfg), "--kubeconfig", str(cluster.dir / "kubelet.kubeconfig"),
        "--root-dir", str(cluster.dir / "kubelet" / "root"), "--hostname-override", cluster.node_name,
        "--node-ip", state["node_ip"], "--v=1"])

    pcfg = kube_proxy_config(cluster)
    ppid, plogf = cluster._start(state, "kube-proxy", [str(bins / "kube-proxy"), "--config", str(pcfg), "--v=1"])

    def node_ready() -> bool:
        out = kubectl(cluster, "get", "node", cluster.node_name, "-o",
                      "jsonpath={.status.conditions[?(@.type=='Ready')].status}", check=False, timeout=10)
        return out.stdout.strip() == "True"
    procs.wait_for("kubelet (node Ready)", node_ready, timeout=WAIT, pid=pid, log_file=logf,
                   marker=cluster.marker(), interval=0.5)
    procs.wait_for("kube-proxy", lambda: procs.http_get("http://127.0.0.1:10256/healthz")[0] == 200,
                   timeout=WAIT, pid=ppid, log_file=plogf, marker=cluster.marker())
    # No dynamic provisioner here: a StorageClass and pre-made volumes for claims to bind to.
    storage.deploy(cluster)
    if coredns_enabled():
        coredns.deploy(cluster, sock)
        procs.wait_for("coredns (cluster DNS)", lambda: coredns.ready(cluster), timeout=WAIT, pid=None,
                       log_file=logf, interval=0.5)


# ---- down ------------------------------------------------------------------------------------
def _stop(state: dict, comp: str) -> None:
    info = state.get("procs", {}).get(comp)
    if info:
        procs.stop(info["pid"], info["marker"])


def _pids_in_kubepods() -> list[int]:
    pids = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cg = (p / "cgroup").read_text()
        except OSError:
            continue
        if "/kubepods" in cg:
            pids.append(int(p.name))
    return pids


def _shim_pids(sock: str) -> list[int]:
    pids = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cmd = (p / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if cmd and "containerd-shim" in cmd[0] and sock in cmd:
            pids.append(int(p.name))
    return pids


def _mounts_under(prefixes: list[str]) -> list[str]:
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mp = line.split()[4].replace("\\040", " ")
        if any(mp == p or mp.startswith(p.rstrip("/") + "/") for p in prefixes):
            points.append(mp)
    return points


def _unmount_all(prefixes: list[str]) -> None:
    for _ in range(5):
        points = _mounts_under(prefixes)
        if not points:
            return
        # Deepest first.
        for mp in sorted(points, key=lambda m: m.count("/"), reverse=True):
            if subprocess.run(["umount", mp], capture_output=True, check=False).returncode != 0:
                subprocess.run(["umount", "-l", mp], capture_output=True, check=False)


def _remove_new_chains(before: dict[str, list[str]]) -> None:
    for tool in ("iptables", "ip6tables"):
        if not shutil.which(f"{tool}-save"):
            continue
        old = set(before.get(tool, []))
        proc = subprocess.run([f"{tool}-save"], capture_output=True, text=True, timeout=30, check=False)
        table = None
        new: dict[str, list[str]] = {}
        jumps: list[tuple[str, list[str]]] = []
        for line in proc.stdout.splitlines():
            if line.startswith("*"):
                table = line[1:]
            elif line.startswith(":") and table:
                chain = line[1:].split()[0]
                if CHAIN_RE.match(chain) and f"{table}/{chain}" not in old:
                    new.setdefault(table, []).append(chain)
            elif line.startswith("-A ") and table:
                jumps.append((table, line.split()))
        for table, words in jumps:
            chain = words[1]
            target = words[words.index("-j") + 1] if "-j" in words else None
            if chain not in new.get(table, []) and target in new.get(table, []):
                # The rule spec as saved: -A CHAIN ... -> -D CHAIN ...
                subprocess.run([tool, "-w", "5", "-t", table, "-D", *words[1:]], capture_output=True, check=False)
        for table, chains in new.items():
            for chain in chains:
                subprocess.run([tool, "-w", "5", "-t", table, "-F", chain], capture_output=True, check=False)
            for chain in chains:
                subprocess.run([tool, "-w", "5", "-t", table, "-X", chain], capture_output=True, check=False)


def _rm_cgroup(path: Path) -> None:
    for sub in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        try:
            sub.rmdir()
        except OSError:
            pass
    try:
        path.rmdir()
    except OSError:
        pass


def down(cluster, state: dict) -> list[str]:
    from localkube.cluster import kubectl
    snap = state.get("node") or {}
    sock = state.get("containerd_sock", str(run_dir(cluster) / "containerd.sock"))
    # No controller may recreate what is being removed.
    for comp in ("kube-controller-manager", "kube-scheduler"):
        _stop(state, comp)
    api = state.get("procs", {}).get("kube-apiserver")
    kubelet = state.get("procs", {}).get("kubelet")
    if api and procs.alive(api["pid"], api["marker"]) and kubelet and procs.alive(kubelet["pid"], kubelet["marker"]):
        # Let the kubelet stop the sandboxes: that is what runs CNI DEL (veth, IP) cleanly.
        kubectl(cluster, "delete", "pods", "--all", "--all-namespaces", "--force", "--grace-period=0",
                "--wait=false", check=False, timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            out = subprocess.run(["ctr", "--address", sock, "-n", "k8s.io", "tasks", "ls"], capture_output=True,
                                 text=True, timeout=10, check=False).stdout
            if "RUNNING" not in out:
                break
            time.sleep(0.5)
    for comp in ("kubelet", "kube-proxy"):
        _stop(state, comp)
    bins = Path(state.get("bin", ""))
    if (bins / "kube-proxy").exists():
        subprocess.run([str(bins / "kube-proxy"), "--cleanup", "--v=0"], capture_output=True, timeout=60, check=False)
    # Whatever still runs in a container: kill its tasks, then containerd and any orphaned shim.
    if Path(sock).exists():
        out = subprocess.run(["ctr", "--address", sock, "-n", "k8s.io", "tasks", "ls", "-q"], capture_output=True,
                             text=True, timeout=10, check=False).stdout.split()
        for task in out:
            subprocess.run(["ctr", "--address", sock, "-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL", task],
                           capture_output=True, timeout=10, check=False)
    _stop(state, "containerd")
    for pid in _pids_in_kubepods() + _shim_pids(sock):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (_pids_in_kubepods() or _shim_pids(sock)):
        time.sleep(0.2)

    new_netns = [n for n in _netns() if n not in snap.get("netns", []) and n.startswith("cni-")]
    _unmount_all([str(cluster.dir), str(run_dir(cluster))] + [f"/run/netns/{n}" for n in new_netns]
                 + ["/run/containerd"] * (not snap.get("dirs_existed", {}).get("/run/containerd", True)))
    for n in new_netns:
        Path("/run/netns", n).unlink(missing_ok=True)
    if not snap.get("bridge_existed", True) and Path(f"/sys/class/net/{BRIDGE}").exists():
        subprocess.run(["ip", "link", "delete", BRIDGE], capture_output=True, check=False)
    if snap.get("chains") is not None:
        _remove_new_chains(snap["chains"])
    for cg in _cgroup_kubepods():
        if cg not in snap.get("kubepods_cgroups", []):
            _rm_cgroup(Path(cg))
    results = Path("/var/lib/cni/results")
    if results.is_dir():
        for f in results.glob(f"{CNI_NETWORK}-*"):
            f.unlink(missing_ok=True)
    for d, existed in snap.get("dirs_existed", {}).items():
        p = Path(d)
        if not existed and p.exists() and not _mounts_under([d]):
            shutil.rmtree(p, ignore_errors=True)
    foreign = _foreign_netns(snap)
    for key, value in snap.get("sysctls", {}).items():
        if key in FORWARD_SYSCTLS and foreign:
            if _read_sysctl(key) != value:
                log(f"keeping {key.replace('/', '.')}={_read_sysctl(key)}: other container networks use it "
                    f"({', '.join(foreign[:3])})")
            continue
        try:
            if _read_sysctl(key) != value:
                _write_sysctl(key, value)
        except OSError as exc:
            log(f"could not restore {key}={value}: {exc}")
    shutil.rmtree(run_dir(cluster), ignore_errors=True)
    try:
        run_dir(cluster).parent.rmdir()
    except OSError:
        pass
    return leftovers(cluster, state)


def leftovers(cluster, state: dict) -> list[str]:
    """Everything the node level changed that is still there (empty after a clean down)."""
    snap = state.get("node") or {}
    found = []
    for comp in ("containerd", "kube-scheduler", "kubelet", "kube-proxy"):
        info = state.get("procs", {}).get(comp)
        if info and procs.alive(info["pid"], info["marker"]):
            found.append(f"process {comp} pid {info['pid']}")
    if _pids_in_kubepods():
        found.append(f"container processes {_pids_in_kubepods()}")
    sock = state.get("containerd_sock", "")
    if sock and _shim_pids(sock):
        found.append(f"shims {_shim_pids(sock)}")
    mounts = _mounts_under([str(cluster.dir), str(run_dir(cluster))])
    if mounts:
        found.append(f"mounts {mounts}")
    # Only our CNI's (cni-*): podman's netns-* come and go with other people's containers.
    new_netns = [n for n in _netns() if n not in snap.get("netns", []) and n.startswith("cni-")]
    if new_netns:
        found.append(f"netns {new_netns}")
    if snap.get("chains") is not None:
        now = _chains()
        for tool, chains in now.items():
            extra = [c for c in chains if CHAIN_RE.match(c.split("/", 1)[1]) and c not in snap["chains"].get(tool, [])]
            if extra:
                found.append(f"{tool} chains {extra}")
    foreign = _foreign_netns(snap)
    for key, value in snap.get("sysctls", {}).items():
        if key in FORWARD_SYSCTLS and foreign:
            continue
        if _read_sysctl(key) != value:
            found.append(f"sysctl {key}={_read_sysctl(key)} (was {value})")
    if not snap.get("bridge_existed", True) and Path(f"/sys/class/net/{BRIDGE}").exists():
        found.append(f"link {BRIDGE}")
    for cg in _cgroup_kubepods():
        if cg not in snap.get("kubepods_cgroups", []):
            found.append(f"cgroup {cg}")
    return found
