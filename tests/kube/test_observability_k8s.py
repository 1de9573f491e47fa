"""The observability role's Kubernetes mode, applied to a real API server (localkube `api` level).

playbooks/workloads.yml --tags namespaces,observability for inventories/campus_microk8s (logging
stack on) runs twice against the cluster, after the monitoring namespace (the MicroK8s add-on's,
created here as the add-on would) and the Prometheus Operator CRDs (../shared/crds, read in place)
exist. What a user relies on:
- every rendered document is accepted and on the server; a second run changes nothing;
- Prometheus finds our monitors and rules: each carries the release label its selectors match
  (dsa_k8s_servicemonitor_labels), and the add-on values select exactly that label;
- Grafana's sidecar finds the dashboards: ConfigMaps labelled grafana_dashboard=1 holding valid
  dashboard JSON whose IoT API queries name metrics the API really exposes (its metrics module,
  imported and rendered here), on the datasource the datasource ConfigMap provisions;
- metrics ports answer the monitoring namespace only; both logging namespaces start from
  default-deny; the logging pods are admitted where `restricted` is enforced, except Fluentd,
  which is refused there and admitted in its documented `privileged` namespace;
- the API refuses a PrometheusRule that breaks the CRD schema (the acceptance above can fail).
"""
from __future__ import annotations

import copy
import functools
import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config, dynamic
from kubernetes.client.rest import ApiException

pytestmark = pytest.mark.kube

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = "inventories/campus_microk8s"
ZALANDO_CRDS = ("postgresqls.acid.zalan.do", "operatorconfigurations.acid.zalan.do")
PLATFORM = yaml.safe_load((ROOT / "roles/platform/defaults/main.yml").read_text())
ROLE_DEFAULTS = yaml.safe_load((ROOT / "roles/observability/defaults/main.yml").read_text())
INVENTORY_VARS = yaml.safe_load((ROOT / INVENTORY / "group_vars/all/observability.yml").read_text())
MONITORING_NS = PLATFORM["dsa_k8s_monitoring_namespace"]
RELEASE_LABELS = PLATFORM["dsa_k8s_servicemonitor_labels"]
LOGGING_NS = ROLE_DEFAULTS["observability_k8s_logging_namespace"]
COLLECTOR_NS = ROLE_DEFAULTS["observability_k8s_log_collector_namespace"]
DASHBOARD_FILES = sorted(p.name for p in (ROOT / "roles/observability/files/dashboards").glob("*.json"))


def _tail(text, lines=50):
    return "\n".join(text.splitlines()[-lines:])


def _recap(output):
    match = re.search(r"^localhost\s+:\s+(.*)$", output, re.M)
    assert match, f"no PLAY RECAP in:\n{_tail(output)}"
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(1))}


def _changed_tasks(output):
    names, task = [], None
    for line in output.splitlines():
        if line.startswith("TASK ["):
            task = line[6:line.index("]")]
        elif line.startswith("changed:") and task:
            names.append(task)
    return names


@functools.lru_cache(maxsize=1)
def api_metric_names():
    """Sample names on the IoT API's /metrics: its metrics module, loaded from the app's source,
    with one child of each labelled metric, rendered by prometheus_client as the endpoint does."""
    # The module registers its metrics in prometheus_client's global registry: reuse it when the app's
    # own tests (same process) imported it already, else a second copy's names would clash.
    metrics = sys.modules.get("iot_api.metrics")
    if metrics is None:
        spec = importlib.util.spec_from_file_location(
            "dsa_test_iot_api_metrics", ROOT / "apps/iot_api/iot_api/metrics.py")
        metrics = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(metrics)
    counter, histogram = metrics.children("GET", "/api/v1/readings", 200)
    counter.inc()
    histogram.observe(0.01)
    metrics.INGESTED.labels("/api/v1/readings").inc()
    body, _ = metrics.render()
    names = set()
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            names.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0))
    return frozenset(n for n in names if n.startswith("iot_api_"))


@pytest.fixture(scope="module")
def cluster(localkube_api, shared_crds, run_playbook, tmp_path_factory):
    """The cluster after two runs of workloads.yml: (api client, render dir, first run, second run)."""
    api = config.new_client_from_config(config_file=str(localkube_api))
    core = client.CoreV1Api(api)
    try:
        core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": MONITORING_NS}})
    except ApiException as err:
        if err.status != 409:
            raise
    shared_crds(localkube_api, skip=ZALANDO_CRDS)
    render_dir = tmp_path_factory.mktemp("obs-render") / "campus"
    extra = json.dumps({"dsa_k8s_kubeconfig": str(localkube_api), "dsa_k8s_render_dir": str(render_dir),
                        # api level: no pod ever runs, nothing becomes ready
                        "observability_k8s_wait": False})
    args = ("-i", INVENTORY, "playbooks/workloads.yml", "--tags", "namespaces,observability", "-e", extra)
    first = run_playbook(*args, timeout=300)
    assert first.returncode == 0, f"first run failed:\n{_tail(first.stdout)}\n{first.stderr[-2000:]}"
    second = run_playbook(*args, timeout=300)
    assert second.returncode == 0, f"second run failed:\n{_tail(second.stdout)}\n{second.stderr[-2000:]}"
    return api, render_dir, first, second


def _documents(render_dir):
    docs = []
    for path in sorted((render_dir / "30-observability").glob("*.yaml")):
        docs += [(path.name, d) for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def _live(api, body):
    resource = dynamic.DynamicClient(api).resources.get(api_version=body["apiVersion"], kind=body["kind"])
    meta = body["metadata"]
    return resource.get(name=meta["name"], namespace=meta.get("namespace")).to_dict()


def test_the_inventory_renders_the_logging_stack():
    # campus is the domain this test applies: it must exercise the optional part too.
    assert INVENTORY_VARS["observability_k8s_logging"] is True


def test_every_document_is_accepted_and_on_the_server(cluster):
    api, render_dir, first, _ = cluster
    docs = _documents(render_dir)
    files = {name for name, _ in docs}
    assert files == {"grafana.yaml", "rules.yaml", "logging-namespaces.yaml", "elasticsearch.yaml",
                     "logstash.yaml", "kibana.yaml", "fluentd.yaml"}
    assert _recap(first.stdout)["changed"] > 0
    missing = []
    for name, body in docs:
        live = _live(api, body)
        owners = {entry["manager"] for entry in live["metadata"].get("managedFields") or []}
        if PLATFORM["dsa_k8s_field_manager"] not in owners:
            missing.append(f"{body['kind']} {body['metadata']['name']} ({name}): managers {sorted(owners)}")
    assert not missing, "\n".join(missing)


def test_a_second_run_changes_nothing(cluster):
    _, _, _, second = cluster
    recap = _recap(second.stdout)
    assert recap["changed"] == 0, f"changed on the second run: {_changed_tasks(second.stdout)}"
    assert recap["failed"] == 0


def test_the_addon_values_select_the_release_label_and_the_sidecar_label(cluster):
    _, render_dir, _, _ = cluster
    values_dir = Path(f"{render_dir}-addon-values") / "observability"
    kps = yaml.safe_load((values_dir / "kube-prometheus-stack.yaml").read_text())
    spec = kps["prometheus"]["prometheusSpec"]
    for kind in ("serviceMonitor", "podMonitor", "rule"):
        assert spec[f"{kind}SelectorNilUsesHelmValues"] is False
        assert spec[f"{kind}Selector"] == {"matchLabels": RELEASE_LABELS}
        assert spec[f"{kind}NamespaceSelector"] == {}
    assert spec["retention"] == INVENTORY_VARS["observability_k8s_prometheus_retention"]
    assert spec["resources"]["limits"]["memory"]
    assert kps["grafana"]["sidecar"]["dashboards"].items() >= {
        "enabled": True, "label": "grafana_dashboard", "labelValue": "1"}.items()
    loki = yaml.safe_load((values_dir / "loki-stack.yaml").read_text())
    assert loki["loki"]["config"]["limits_config"]["retention_period"] == INVENTORY_VARS["observability_k8s_loki_retention"]
    assert loki["loki"]["serviceMonitor"]["additionalLabels"] == RELEASE_LABELS
    assert loki["promtail"]["enabled"] is False  # Fluentd ships to Loki in this domain
    # Helm values stay outside the render directory, so `kubectl apply -R` never sees them.
    assert not values_dir.is_relative_to(render_dir)
    assert (values_dir / "kube-prometheus-stack.yaml").stat().st_mode & 0o077 == 0


def test_every_monitor_and_rule_carries_the_release_label(cluster):
    """Each ServiceMonitor and PrometheusRule this component rendered is on the server with the label
    the add-on's Prometheus selects (other modules of the session apply their own monitors to the
    same cluster, so the live set is read per rendered object)."""
    api, render_dir, _, _ = cluster
    rendered = [body for _, body in _documents(render_dir) if body["kind"] in ("ServiceMonitor", "PrometheusRule")]
    kinds = sorted({body["kind"] for body in rendered})
    assert kinds == ["PrometheusRule", "ServiceMonitor"], kinds
    for body in rendered:
        labels = _live(api, body)["metadata"].get("labels") or {}
        assert labels.items() >= RELEASE_LABELS.items(), f"{body['kind']} {body['metadata']['name']}: labels {labels}"


def test_the_rule_holds_the_host_modes_alerts(cluster):
    api, _, _, _ = cluster
    rule = _live(api, {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
                       "metadata": {"name": "dsa-platform", "namespace": MONITORING_NS}})
    alerts = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r}
    host = yaml.safe_load((ROOT / "roles/observability/vars/main.yml").read_text())["_observability_rule_groups"]
    assert set(alerts) == {r["alert"] for g in host for r in g["rules"] if "alert" in r}
    assert alerts["IotApiHighErrorRatio"]["expr"].endswith(f"> {ROLE_DEFAULTS['observability_alert_api_5xx_ratio']}")
    # the exporter's job on Kubernetes is its Service's name, not the host mode's static job
    assert f'up{{job="{PLATFORM["dsa_database_k8s_cluster"]}-metrics"}}' in alerts["PostgresqlDown"]["expr"]
    assert "{{ $labels.instance }}" in alerts["TargetDown"]["annotations"]["summary"]


def test_dashboards_are_sidecar_configmaps_on_real_metric_names(cluster):
    api, _, _, _ = cluster
    core = client.CoreV1Api(api)
    maps = core.list_namespaced_config_map(MONITORING_NS, label_selector="grafana_dashboard=1").items
    shipped = {}
    for cm in maps:
        for key, text in (cm.data or {}).items():
            shipped[key] = json.loads(text)
    assert sorted(shipped) == DASHBOARD_FILES
    for key, dashboard in shipped.items():
        # byte for byte the host mode's file (one generator for both)
        assert dashboard == json.loads((ROOT / "roles/observability/files/dashboards" / key).read_text()), key
        assert dashboard["panels"] and all(p["targets"] for p in dashboard["panels"])
    exprs = [t["expr"] for d in shipped.values() for p in d["panels"] for t in p["targets"]]
    named = queried_api_metrics(exprs)
    assert {"iot_api_http_requests_total", "iot_api_http_request_duration_seconds_bucket"} <= named
    unknown = named - api_metric_names()
    assert not unknown, f"dashboards query IoT API metrics the API does not expose: {sorted(unknown)}"
    # and the datasource they name is provisioned beside them
    uids = {t["datasource"]["uid"] for d in shipped.values() for p in d["panels"] for t in p["targets"]}
    sources = core.list_namespaced_config_map(MONITORING_NS, label_selector="grafana_datasource=1").items
    provisioned = {ds["uid"] for cm in sources for text in cm.data.values()
                   for ds in yaml.safe_load(text)["datasources"]}
    assert uids <= provisioned


def queried_api_metrics(exprs):
    """The IoT API metric names a list of PromQL expressions queries."""
    return set(re.findall(r"\biot_api_[a-zA-Z0-9_]+", " ".join(exprs)))


def test_a_dashboard_query_with_a_misspelt_metric_is_reported():
    # The check above on a panel with a one-letter typo (request_total for requests_total).
    named = queried_api_metrics(['sum(rate(iot_api_http_request_total{job="iot-api"}[5m]))',
                                 "histogram_quantile(0.95, sum by (le) (rate(iot_api_http_request_duration_seconds_bucket[5m])))"])
    assert named - api_metric_names() == {"iot_api_http_request_total"}


def _policies(api, namespace):
    raw = client.NetworkingV1Api(api).list_namespaced_network_policy(namespace)
    return api.sanitize_for_serialization(raw)["items"]


def test_metrics_ports_answer_only_the_monitoring_namespace(cluster):
    api, _, _, _ = cluster
    checked = {}
    for namespace, port in ((LOGGING_NS, 9114), (COLLECTOR_NS, 24231)):
        for policy in _policies(api, namespace):
            for rule in policy["spec"].get("ingress") or []:
                if port in [p.get("port") for p in rule.get("ports") or []]:
                    peers = rule.get("from") or []
                    assert peers, f"{policy['metadata']['name']}: port {port} open to everyone"
                    for peer in peers:
                        assert peer.get("namespaceSelector") == {
                            "matchLabels": {"kubernetes.io/metadata.name": MONITORING_NS}}, peer
                    checked[port] = True
    assert checked == {9114: True, 24231: True}


def test_logging_namespaces_start_from_default_deny(cluster):
    api, _, _, _ = cluster
    for namespace in (LOGGING_NS, COLLECTOR_NS):
        deny = [p for p in _policies(api, namespace)
                if p["spec"].get("podSelector") in ({}, None)
                and sorted(p["spec"].get("policyTypes") or []) == ["Egress", "Ingress"]
                and not p["spec"].get("ingress") and not p["spec"].get("egress")]
        assert deny, f"{namespace}: no default-deny policy"


def _pod_from(body, namespace):
    template = copy.deepcopy(body["spec"]["template"])
    spec = template["spec"]
    for claim in body["spec"].get("volumeClaimTemplates") or []:
        spec.setdefault("volumes", []).append(
            {"name": claim["metadata"]["name"], "emptyDir": {}})
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"generateName": f"{body['metadata']['name']}-check-", "namespace": namespace,
                         "labels": template["metadata"]["labels"]}, "spec": spec}


def _admitted(api, pod):
    try:
        client.CoreV1Api(api).create_namespaced_pod(pod["metadata"]["namespace"], pod, dry_run="All")
        return None
    except ApiException as err:
        return f"{err.status}: {json.loads(err.body).get('message') if err.body else err.reason}"


def test_logging_pods_are_admitted_restricted_except_the_documented_collector(cluster):
    api, render_dir, _, _ = cluster
    core = client.CoreV1Api(api)
    logging_ns = core.read_namespace(LOGGING_NS).metadata
    collector_ns = core.read_namespace(COLLECTOR_NS).metadata
    assert logging_ns.labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert collector_ns.labels["pod-security.kubernetes.io/enforce"] == "privileged"
    assert any("pod-security" in k for k in (collector_ns.annotations or {})), "the exception is not documented"
    workloads = [b for _, b in _documents(render_dir) if b["kind"] in ("Deployment", "StatefulSet", "DaemonSet")]
    assert sorted(b["metadata"]["name"] for b in workloads) == ["elasticsearch", "fluentd", "kibana", "logstash"]
    for body in workloads:
        namespace = body["metadata"]["namespace"]
        assert _admitted(api, _pod_from(body, namespace)) is None, body["metadata"]["name"]
        if body["kind"] == "DaemonSet":
            assert namespace == COLLECTOR_NS
            # the reason for the exception is real: restricted refuses it
            refused = _admitted(api, _pod_from(body, LOGGING_NS))
            assert refused and refused.startswith("403") and "hostPath" in refused, refused
        else:
            assert namespace == LOGGING_NS


def test_a_prometheusrule_that_breaks_the_crd_schema_is_refused(cluster):
    api, render_dir, _, _ = cluster
    rule = next(body for _, body in _documents(render_dir) if body["kind"] == "PrometheusRule")
    resource = dynamic.DynamicClient(api).resources.get(api_version="monitoring.coreos.com/v1", kind="PrometheusRule")
    good = copy.deepcopy(rule)
    good["metadata"]["name"] = "dsa-schema-check"
    resource.create(body=good, namespace=MONITORING_NS, query_params=[("dryRun", "All")])  # the control
    broken = copy.deepcopy(good)
    broken["spec"]["groups"][0]["rules"] = "not a list of rules"
    with pytest.raises(ApiException) as err:
        resource.create(body=broken, namespace=MONITORING_NS, query_params=[("dryRun", "All")])
    assert err.value.status == 422
    assert "spec.groups[0].rules" in err.value.body


def test_without_the_logging_stack_its_documents_go_and_promtail_ships(cluster, run_playbook, tmp_path):
    """smart_home's setting on campus' rendering: the logging documents a previous run rendered are
    deleted (a `kubectl apply -R` of the directory no longer creates them) and the add-on's
    promtail takes over shipping to Loki. Render only: the cluster is left as it is."""
    import shutil

    _, render_dir, _, _ = cluster
    again = tmp_path / "campus"
    shutil.copytree(render_dir, again)
    extra = json.dumps({"dsa_k8s_render_dir": str(again), "observability_k8s_logging": False})
    proc = run_playbook("-i", INVENTORY, "playbooks/render.yml", "--tags", "namespaces,observability", "-e", extra,
                        timeout=300)
    assert proc.returncode == 0, f"render failed:\n{_tail(proc.stdout)}\n{proc.stderr[-2000:]}"
    assert sorted(p.name for p in (again / "30-observability").glob("*.yaml")) == ["grafana.yaml", "rules.yaml"]
    loki = yaml.safe_load((Path(f"{again}-addon-values") / "observability" / "loki-stack.yaml").read_text())
    assert loki["promtail"]["enabled"] is True
