"""Fast checks of localkube's pins and generated build inputs (no cluster needed)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from localkube import build, cluster, images, util

ROOT = Path(__file__).resolve().parents[2]
MICROK8S_DEFAULTS = ROOT / "roles" / "microk8s" / "defaults" / "main.yml"


def pin_mismatch(defaults: Path, pinned: str) -> str | None:
    """Why the pin and the role's channel disagree, or None when their minors match."""
    if not defaults.is_file():
        return f"{defaults} is missing: it defines microk8s_channel"
    channel = (yaml.safe_load(defaults.read_text()) or {}).get("microk8s_channel")
    m = re.fullmatch(r"(\d+\.\d+)(/[a-z-]+)?", str(channel))
    if not m:
        return f"microk8s_channel {channel!r} is not '<major>.<minor>/<risk>'"
    if util.k8s_minor(pinned) != m.group(1):
        return f"tools/localkube/pins.toml pins {pinned} but microk8s_channel is {channel}: change one of them"
    return None


def test_pinned_minor_is_the_one_the_microk8s_role_installs():
    """The tested Kubernetes must be the minor the microk8s role's default channel ships."""
    problem = pin_mismatch(MICROK8S_DEFAULTS, util.pins()["kubernetes"])
    assert problem is None, problem


@pytest.mark.parametrize("channel,ok", [("1.37/stable", True), ("1.37", True), ("1.36/stable", False),
                                        ("1.370/stable", False), ("latest/edge", False)])
def test_pin_check_compares_minors(tmp_path, channel, ok):
    defaults = tmp_path / "main.yml"
    defaults.write_text(f'microk8s_channel: "{channel}"\n')
    assert (pin_mismatch(defaults, "v1.37.2") is None) == ok


def test_pin_is_a_full_release_version():
    assert re.fullmatch(r"v\d+\.\d+\.\d+", util.pins()["kubernetes"])
    assert re.fullmatch(r"v\d+\.\d+\.\d+", util.pins()["etcd"])


def test_go_mod_replaces_every_staging_module_with_the_same_release():
    text = build.go_mod("v1.37.2", "v3.7.0")
    assert "\tk8s.io/kubernetes v1.37.2" in text
    assert "\tgo.etcd.io/etcd/server/v3 v3.7.0" in text
    replaced = re.findall(r"^\tk8s\.io/(\S+) => k8s\.io/(\S+) (\S+)$", text, re.M)
    assert len(replaced) == 31
    assert all(a == b and v == "v0.37.2" for a, b, v in replaced)
    assert {"api", "client-go", "kubelet", "pod-security-admission", "cri-client"} <= {a for a, _, _ in replaced}


def test_ldflags_stamp_the_version_servers_report():
    flags = build.ldflags("v1.37.2")
    assert "-X k8s.io/component-base/version.gitVersion=v1.37.2" in flags
    assert "-X k8s.io/component-base/version.gitMinor=37" in flags
    assert "-X k8s.io/client-go/pkg/version.gitVersion=v1.37.2" in flags


def test_build_cache_is_outside_the_checkout_and_keyed_by_versions(monkeypatch):
    monkeypatch.delenv("DSA_LOCALKUBE_CACHE", raising=False)
    d = build.build_dir()
    assert ROOT not in d.parents
    assert d.name == f"{util.pins()['kubernetes']}-{util.go_version()}"
    env = build.go_env()
    assert Path(env["GOMODCACHE"]).is_relative_to(util.cache_root())
    assert Path(env["GOCACHE"]).is_relative_to(util.cache_root())


def test_levels_build_what_they_run():
    assert set(build.LEVEL_BINARIES["api"]) == {"etcd", "kube-apiserver", "kube-controller-manager", "kubectl"}
    assert set(build.LEVEL_BINARIES["node"]) == set(build.PACKAGES)
    with pytest.raises(util.LocalkubeError, match="--level"):
        build.build("cluster")


@pytest.mark.parametrize("tag,want", [
    ("iot-api:0.1.0", "localhost/iot-api:0.1.0"),
    ("team/iot-api:1", "localhost/team/iot-api:1"),
    ("localhost/iot-api:0.1.0", "localhost/iot-api:0.1.0"),
])
def test_image_names_are_local(tag, want):
    assert images.qualify(tag) == want


@pytest.mark.parametrize("tag,field", [("iot-api", "explicit tag"), ("IoT:1", "lowercase"), ("", "NAME:TAG")])
def test_bad_image_tag_names_the_problem(tag, field):
    with pytest.raises(util.LocalkubeError, match=field):
        images.qualify(tag)


@pytest.mark.parametrize("name", ["", "Dsa", "a_b", "x" * 40, "-a"])
def test_bad_cluster_name_is_refused(name):
    with pytest.raises(util.LocalkubeError, match="--name"):
        cluster.Cluster(name)


def test_cli_errors_are_one_line_without_traceback(capsys):
    from localkube import cli
    assert cli.main(["image", "build", "--tag", "nope", "/nonexistent"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "explicit tag" in err


def test_coredns_manifests_use_the_local_image_and_the_kubelets_dns_ip():
    import json as _json
    from localkube import coredns
    objs = [_json.loads(doc) for doc in coredns.manifests("localhost/dsa-localkube-coredns:v1").split("\n---\n")]
    svc = next(o for o in objs if o["kind"] == "Service")
    assert svc["spec"]["clusterIP"] == coredns.DNS_IP
    assert {p["port"] for p in svc["spec"]["ports"]} == {53}
    dep = next(o for o in objs if o["kind"] == "Deployment")
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "localhost/dsa-localkube-coredns:v1"
    assert container["imagePullPolicy"] == "Never"
    assert f".:{coredns.PORT}" in next(o for o in objs if o["kind"] == "ConfigMap")["data"]["Corefile"]


def test_a_component_that_dies_is_named_with_its_log_tail(tmp_path):
    from localkube import procs
    logf = tmp_path / "etcd.log"
    pid = procs.start("etcd", ["sh", "-c", "echo 'listen tcp 127.0.0.1:2379: bind: address already in use'; exit 1"],
                      logf)
    with pytest.raises(util.LocalkubeError) as err:
        procs.wait_for("etcd", lambda: False, timeout=10, pid=pid, log_file=logf)
    assert "etcd exited during start-up" in str(err.value)
    assert "address already in use" in str(err.value)


def test_a_component_that_never_gets_ready_times_out_by_name(tmp_path):
    from localkube import procs
    logf = tmp_path / "kube-apiserver.log"
    logf.write_text("waiting for etcd\n")
    with pytest.raises(util.LocalkubeError, match=r"kube-apiserver did not become ready within 1s(.|\n)*waiting for etcd"):
        procs.wait_for("kube-apiserver", lambda: False, timeout=1, pid=None, log_file=logf)
