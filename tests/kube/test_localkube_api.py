"""A real kube-apiserver (localkube `api` level) answers as a cluster would for the collection's
Kubernetes-facing roles: server-side apply through kubernetes.core is idempotent, schema and
validation errors are 422, Pod Security admission and RBAC refuse with 403."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

pytestmark = [pytest.mark.integration, pytest.mark.kube]

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"


@pytest.fixture(scope="module")
def api(localkube_api):
    return config.new_client_from_config(config_file=str(localkube_api))


@pytest.fixture
def namespace(api):
    name = f"t-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    client.CoreV1Api(api).delete_namespace(name)


def test_server_reports_the_pinned_version(api):
    from localkube import util
    assert client.VersionApi(api).get_code().git_version == util.pins()["kubernetes"]


def test_server_side_apply_with_kubernetes_core_is_idempotent(localkube_api, api, namespace, tmp_path):
    out = tmp_path / "result.json"
    playbook = tmp_path / "ssa.yml"
    playbook.write_text(f"""
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Apply a ConfigMap
      kubernetes.core.k8s: &apply
        kubeconfig: {localkube_api}
        apply: true
        server_side_apply: {{field_manager: dsa-test}}
        definition:
          apiVersion: v1
          kind: ConfigMap
          metadata: {{name: ssa, namespace: {namespace}}}
          data: {{site: campus, sensors: "12"}}
      register: first
    - name: Apply it again
      kubernetes.core.k8s: *apply
      register: second
    - name: Record
      ansible.builtin.copy:
        dest: {out}
        content: "{{{{ {{'first': first.changed, 'second': second.changed, 'data': second.result.data}} | to_json }}}}"
        mode: "0600"
""")
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"),
               PATH=f"{VENV_BIN}:{os.environ['PATH']}")
    proc = subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                           "-e", f"ansible_python_interpreter={sys.executable}", str(playbook)],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result == {"first": True, "second": False, "data": {"site": "campus", "sensors": "12"}}
    managed = client.CoreV1Api(api).read_namespaced_config_map("ssa", namespace)
    assert "dsa-test" in {m.manager for m in managed.metadata.managed_fields}


def test_negative_replicas_is_422(api, namespace):
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bad"},
           "spec": {"replicas": -1, "selector": {"matchLabels": {"app": "x"}},
                    "template": {"metadata": {"labels": {"app": "x"}},
                                 "spec": {"containers": [{"name": "x", "image": "localhost/x:1"}]}}}}
    with pytest.raises(ApiException) as err:
        client.AppsV1Api(api).create_namespaced_deployment(namespace, dep)
    assert err.value.status == 422
    assert "spec.replicas" in err.value.body


def test_privileged_pod_in_restricted_namespace_is_403(api, namespace):
    core = client.CoreV1Api(api)
    core.patch_namespace(namespace, {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}})
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "priv"},
           "spec": {"containers": [{"name": "x", "image": "localhost/x:1", "imagePullPolicy": "Never",
                                    "securityContext": {"privileged": True}}]}}
    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod(namespace, pod)
    assert err.value.status == 403
    assert "violates PodSecurity" in err.value.body and "privileged" in err.value.body


def test_custom_resource_breaking_its_crd_schema_is_422(api):
    ext = client.ApiextensionsV1Api(api)
    group = f"t{uuid.uuid4().hex[:6]}.dsa.test"
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": f"sensors.{group}"},
           "spec": {"group": group, "scope": "Namespaced",
                    "names": {"plural": "sensors", "singular": "sensor", "kind": "Sensor"},
                    "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                        "type": "object", "properties": {"spec": {"type": "object", "required": ["interval"],
                                                                  "properties": {"interval": {"type": "integer",
                                                                                              "minimum": 1}}}}}}}]}}
    ext.create_custom_resource_definition(crd)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            conds = ext.read_custom_resource_definition(f"sensors.{group}").status.conditions or []
            if any(c.type == "Established" and c.status == "True" for c in conds):
                break
            time.sleep(0.2)
        custom = client.CustomObjectsApi(api)
        good = {"apiVersion": f"{group}/v1", "kind": "Sensor", "metadata": {"name": "ok"}, "spec": {"interval": 5}}
        custom.create_namespaced_custom_object(group, "v1", "default", "sensors", good)
        bad = dict(good, metadata={"name": "bad"}, spec={"interval": 0})
        with pytest.raises(ApiException) as err:
            custom.create_namespaced_custom_object(group, "v1", "default", "sensors", bad)
        assert err.value.status == 422
        assert "spec.interval" in err.value.body
    finally:
        ext.delete_custom_resource_definition(f"sensors.{group}")


def test_rbac_refuses_a_service_account_without_bindings(api, namespace):
    core = client.CoreV1Api(api)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "nobody"}})
    token = core.create_namespaced_service_account_token(
        "nobody", namespace, {"spec": {"expirationSeconds": 600}}).status.token
    cfg = client.Configuration()
    cfg.host = api.configuration.host
    cfg.ssl_ca_cert = api.configuration.ssl_ca_cert
    cfg.api_key = {"authorization": f"Bearer {token}"}
    nobody = client.CoreV1Api(client.ApiClient(cfg))
    with pytest.raises(ApiException) as err:
        nobody.list_namespaced_secret(namespace)
    assert err.value.status == 403
    assert f"system:serviceaccount:{namespace}:nobody" in err.value.body
