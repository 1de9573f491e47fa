"""Cluster PKI made with openssl: one CA, serving and client certs, a service-account key pair."""
from __future__ import annotations

import shutil
from pathlib import Path

from localkube.util import LocalkubeError, atomic_write, run

DAYS = "30"


def _key(ossl: str, path: Path, what: str) -> None:
    # P-256 keys: as good as RSA 2048 for a test cluster and generated in milliseconds, not seconds.
    run([ossl, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(path)], what=what)
    path.chmod(0o600)


def _openssl() -> str:
    path = shutil.which("openssl")
    if not path:
        raise LocalkubeError("openssl not found (apt-get install openssl)")
    return path


def _cert(pki: Path, name: str, subject: str, *, sans: list[str] | None = None,
          usage: str = "clientAuth") -> None:
    ossl = _openssl()
    key, csr, crt = pki / f"{name}.key", pki / f"{name}.csr", pki / f"{name}.crt"
    ext = pki / f"{name}.ext"
    lines = ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment",
             f"extendedKeyUsage={usage}"]
    if sans:
        lines.append("subjectAltName=" + ",".join(sans))
    atomic_write(ext, "\n".join(lines) + "\n", 0o600)
    _key(ossl, key, f"openssl key {name}")
    run([ossl, "req", "-new", "-key", str(key), "-subj", subject, "-out", str(csr)], what=f"openssl csr {name}")
    run([ossl, "x509", "-req", "-in", str(csr), "-CA", str(pki / "ca.crt"), "-CAkey", str(pki / "ca.key"),
         "-CAcreateserial", "-days", DAYS, "-sha256", "-extfile", str(ext), "-out", str(crt)],
        what=f"openssl sign {name}")
    csr.unlink()
    ext.unlink()


def make(pki: Path, node_name: str, service_ip: str, node_ip: str | None = None) -> None:
    """Create every key and cert the cluster needs under `pki` (idempotent: kept when present)."""
    if (pki / "complete").exists():
        return
    pki.mkdir(parents=True, exist_ok=True)
    pki.chmod(0o700)
    ossl = _openssl()
    _key(ossl, pki / "ca.key", "openssl CA key")
    run([ossl, "req", "-x509", "-new", "-key", str(pki / "ca.key"), "-subj", "/CN=dsa-localkube-ca",
         "-days", DAYS, "-sha256", "-out", str(pki / "ca.crt")], what="openssl CA cert")
    loop = ["IP:127.0.0.1", "DNS:localhost"]
    _cert(pki, "apiserver", "/CN=kube-apiserver", usage="serverAuth",
          sans=loop + [f"IP:{service_ip}"] + ([f"IP:{node_ip}"] if node_ip else []) + ["DNS:kubernetes", "DNS:kubernetes.default",
                       "DNS:kubernetes.default.svc", "DNS:kubernetes.default.svc.cluster.local"])
    # The apiserver's client identity towards kubelets (exec, logs, port-forward).
    _cert(pki, "apiserver-kubelet-client", "/O=system:masters/CN=kube-apiserver-kubelet-client")
    _cert(pki, "admin", "/O=system:masters/CN=dsa-localkube-admin")
    _cert(pki, "controller-manager", "/CN=system:kube-controller-manager")
    _cert(pki, "scheduler", "/CN=system:kube-scheduler")
    _cert(pki, "kube-proxy", "/CN=system:kube-proxy")
    _cert(pki, "kubelet-client", f"/O=system:nodes/CN=system:node:{node_name}")
    _cert(pki, "kubelet-serving", f"/CN={node_name}", usage="serverAuth",
          sans=loop + [f"DNS:{node_name}"] + ([f"IP:{node_ip}"] if node_ip else []))
    _key(ossl, pki / "sa.key", "openssl service-account key")
    run([ossl, "ec", "-in", str(pki / "sa.key"), "-pubout", "-out", str(pki / "sa.pub")],
        what="openssl service-account public key")
    for p in pki.glob("*.key"):
        p.chmod(0o600)
    (pki / "complete").touch()


def kubeconfig(path: Path, *, server: str, pki: Path, user: str, cert: str) -> None:
    """A kubeconfig with file references (no embedded keys to leak through logs)."""
    text = f"""apiVersion: v1
kind: Config
clusters:
- name: localkube
  cluster:
    server: {server}
    certificate-authority: {pki / 'ca.crt'}
users:
- name: {user}
  user:
    client-certificate: {pki / (cert + '.crt')}
    client-key: {pki / (cert + '.key')}
contexts:
- name: {user}@localkube
  context:
    cluster: localkube
    user: {user}
current-context: {user}@localkube
"""
    atomic_write(path, text, 0o600)
