"""Bring a localkube cluster up (level api or node), report it, and take it down without leftovers."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from localkube import build as lkbuild
from localkube import node as lknode
from localkube import packages, pki, procs
from localkube.util import LocalkubeError, atomic_write, log, state_root, tail

NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")
SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"
WAIT = float(os.environ.get("DSA_LOCALKUBE_WAIT", 90))


class Cluster:
    def __init__(self, name: str = "dsa"):
        if not NAME_RE.match(name or ""):
            raise LocalkubeError(f"--name {name!r}: use 1-32 lowercase letters, digits and '-'")
        self.name = name
        self.dir = state_root() / name
        self.pki = self.dir / "pki"
        self.logs = self.dir / "logs"
        self.state_file = self.dir / "state.json"
        self.node_name = f"localkube-{name}"

    # ---- state -------------------------------------------------------------------------------
    @property
    def kubeconfig(self) -> Path:
        return self.dir / "admin.kubeconfig"

    def load(self) -> dict:
        if not self.state_file.exists():
            return {}
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError) as exc:
            raise LocalkubeError(f"{self.state_file}: unreadable state ({exc}); remove {self.dir} by hand") from None

    def save(self, state: dict) -> None:
        atomic_write(self.state_file, json.dumps(state, indent=2, sort_keys=True) + "\n", 0o600)

    def marker(self) -> str:
        # Every component's command line mentions the state dir: the guard against pid reuse.
        return str(self.dir)

    def running(self) -> dict[str, bool]:
        state = self.load()
        return {c: procs.alive(p["pid"], p["marker"]) for c, p in state.get("procs", {}).items()}

    # ---- up ----------------------------------------------------------------------------------
    def up(self, level: str) -> Path:
        if level not in ("api", "node"):
            raise LocalkubeError(f"--level must be api or node, got {level!r}")
        if os.geteuid() != 0 and level == "node":
            raise LocalkubeError("--level node needs root (containerd, kubelet, iptables)")
        state = self.load()
        if state:
            alive = self.running()
            if alive and all(alive.values()) and state.get("level") == level and state.get("ready"):
                log(f"{self.name} already up at level {level}")
                return self.kubeconfig
            log(f"{self.name}: stale or different cluster state (level {state.get('level')}); taking it down first")
            self.down()
        if level == "node":
            other = lknode.other_node_cluster(self.name)
            if other:
                raise LocalkubeError(f"localkube {other!r} already runs a node (one per machine: kubelet ports, "
                                     f"bridge, iptables); run `scripts/localkube down --name {other}` first")
        packages.ensure(*(packages.NODE_NEEDS if level == "node" else packages.API_NEEDS))
        bins = lkbuild.build(level)
        started = time.monotonic()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o700)
        state = {"name": self.name, "level": level, "bin": str(bins), "procs": {}, "ready": False,
                 "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        self.save(state)
        try:
            self._up_api(state, bins)
            if level == "node":
                lknode.up(self, state, bins)
        except BaseException:
            log(f"start-up failed: taking {self.name} down (logs kept in {self.logs}.failed)")
            self._keep_logs()
            self.down()
            raise
        state["ready"] = True
        state["up_seconds"] = round(time.monotonic() - started, 1)
        self.save(state)
        log(f"{self.name} up at level {level} in {state['up_seconds']}s")
        return self.kubeconfig

    def _keep_logs(self) -> None:
        failed = self.dir.parent / f"{self.name}.failed-logs"
        shutil.rmtree(failed, ignore_errors=True)
        if self.logs.exists():
            shutil.copytree(self.logs, failed)
            log(f"component logs copied to {failed}")

    def _start(self, state: dict, component: str, argv: list[str], env: dict | None = None) -> tuple[int, Path]:
        logf = self.logs / f"{component}.log"
        pid = procs.start(component, argv, logf, env)
        state["procs"][component] = {"pid": pid, "marker": self.marker(), "log": str(logf)}
        self.save(state)
        return pid, logf

    def _up_api(self, state: dict, bins: Path) -> None:
        ports = state.setdefault("ports", {})
        ports["etcd"] = procs.free_port()
        ports["etcd_peer"] = procs.free_port()
        ports["apiserver"] = procs.free_port(6443 if self.name == "dsa" else None)
        ports["controller_manager"] = procs.free_port()
        self.save(state)
        if state["level"] == "node":
            state["node_ip"] = lknode.node_ip()
        pki.make(self.pki, self.node_name, SERVICE_IP, state.get("node_ip"))
        server = f"https://127.0.0.1:{ports['apiserver']}"
        state["server"] = server
        for user, cert in (("admin", "admin"), ("controller-manager", "controller-manager"),
                           ("scheduler", "scheduler"), ("kubelet", "kubelet-client"), ("kube-proxy", "kube-proxy")):
            pki.kubeconfig(self.dir / f"{user}.kubeconfig", server=server, pki=self.pki, user=user, cert=cert)

        etcd_url = f"http://127.0.0.1:{ports['etcd']}"
        peer = f"http://127.0.0.1:{ports['etcd_peer']}"
        pid, logf = self._start(state, "etcd", [
            str(bins / "etcd"), "--name", "localkube", "--data-dir", str(self.dir / "etcd"),
            "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"localkube={peer}", "--initial-cluster-state", "new",
            # A throwaway test cluster: durability is not worth the fsync latency.
            "--unsafe-no-fsync", "--log-level", "warn"])
        procs.wait_for("etcd", procs.etcd_health(ports["etcd"]), timeout=WAIT, pid=pid, log_file=logf,
                       marker=self.marker())

        k = self.pki
        node_ip = state.get("node_ip")
        if node_ip:
            # Node level: pods reach the apiserver through the `kubernetes` Service (in-cluster
            # clients such as CoreDNS and operators), so it listens on the node IP too and that
            # address is the Service's endpoint.
            where = ["--bind-address", "0.0.0.0", "--advertise-address", node_ip]
        else:
            # The loopback advertise address cannot be an endpoint of the kubernetes Service.
            where = ["--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
                     "--endpoint-reconciler-type", "none"]
        pid, logf = self._start(state, "kube-apiserver", [
            str(bins / "kube-apiserver"), "--etcd-servers", etcd_url,
            *where, "--secure-port", str(ports["apiserver"]),
            "--tls-cert-file", str(k / "apiserver.crt"), "--tls-private-key-file", str(k / "apiserver.key"),
            "--client-ca-file", str(k / "ca.crt"),
            "--service-account-key-file", str(k / "sa.pub"),
            "--service-account-signing-key-file", str(k / "sa.key"),
            "--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
            "--service-cluster-ip-range", SERVICE_CIDR,
            "--authorization-mode", "Node,RBAC", "--enable-admission-plugins", "NodeRestriction",
            # Privileged pods are allowed by the server so that Pod Security admission is what refuses them.
            "--allow-privileged=true",
            "--kubelet-client-certificate", str(k / "apiserver-kubelet-client.crt"),
            "--kubelet-client-key", str(k / "apiserver-kubelet-client.key"),
            "--kubelet-certificate-authority", str(k / "ca.crt"),
            "--kubelet-preferred-address-types", "InternalIP,Hostname",
            "--profiling=false", "--v=1"])
        procs.wait_for("kube-apiserver", lambda: procs.https_get(f"{server}/readyz", k)[0] == 200,
                       timeout=WAIT, pid=pid, log_file=logf, marker=self.marker())

        cm_kc = str(self.dir / "controller-manager.kubeconfig")
        pid, logf = self._start(state, "kube-controller-manager", [
            str(bins / "kube-controller-manager"), "--kubeconfig", cm_kc,
            "--authentication-kubeconfig", cm_kc, "--authorization-kubeconfig", cm_kc,
            "--bind-address", "127.0.0.1", "--secure-port", str(ports["controller_manager"]),
            "--service-account-private-key-file", str(k / "sa.key"), "--root-ca-file", str(k / "ca.crt"),
            "--cluster-signing-cert-file", str(k / "ca.crt"), "--cluster-signing-key-file", str(k / "ca.key"),
            "--use-service-account-credentials=true", "--leader-elect=false",
            "--service-cluster-ip-range", SERVICE_CIDR, "--v=1"])
        # Pods need the `default` ServiceAccount, which only the controller-manager creates.
        procs.wait_for("kube-controller-manager", lambda: self._default_sa_exists(server),
                       timeout=WAIT, pid=pid, log_file=logf, marker=self.marker())

    def _default_sa_exists(self, server: str) -> bool:
        status, _ = procs.https_get(f"{server}/api/v1/namespaces/default/serviceaccounts/default", self.pki)
        return status == 200

    # ---- down --------------------------------------------------------------------------------
    def down(self) -> list[str]:
        """Stop every component and remove the state dir; return what was left over (empty: clean)."""
        state = self.load()
        if not state and not self.dir.exists():
            log(f"{self.name}: nothing to take down")
            return []
        leftovers: list[str] = []
        if state.get("level") == "node" or state.get("node"):
            leftovers += lknode.down(self, state)
        for comp in ("kube-controller-manager", "kube-apiserver", "etcd"):
            info = state.get("procs", {}).get(comp)
            if info:
                procs.stop(info["pid"], info["marker"])
                if procs.alive(info["pid"], info["marker"]):
                    leftovers.append(f"process {comp} (pid {info['pid']})")
        if not leftovers:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            log(f"{self.name}: left over: {'; '.join(leftovers)} (state kept in {self.dir})")
        return leftovers

    # ---- status ------------------------------------------------------------------------------
    def status(self) -> dict:
        state = self.load()
        if not state:
            return {"name": self.name, "up": False}
        alive = self.running()
        out = {"name": self.name, "level": state.get("level"), "up": bool(alive) and all(alive.values())
               and state.get("ready", False), "components": alive, "kubeconfig": str(self.kubeconfig),
               "server": state.get("server")}
        if out["up"]:
            try:
                out["readyz"] = procs.https_get(f"{state['server']}/readyz", self.pki)[0] == 200
            except OSError as exc:
                out["readyz"] = False
                out["error"] = str(exc)
        return out


def kubectl(cluster: Cluster, *args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
    state = cluster.load()
    binary = Path(state.get("bin", lkbuild.bin_dir())) / "kubectl"
    proc = subprocess.run([str(binary), "--kubeconfig", str(cluster.kubeconfig), *args], capture_output=True,
                          text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise LocalkubeError(f"kubectl {' '.join(args[:3])} failed: {proc.stderr.strip()[-2000:]}")
    return proc


__all__ = ["Cluster", "kubectl", "tail"]
