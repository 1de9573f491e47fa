"""The microk8s role's `cluster` entry point against a real Kubernetes API server (localkube, api
level), checked with the kubernetes client: Pod Security labels that the API server enforces, a
read-only role that really is read-only, and a clear failure naming the variable when a class is
missing."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
KUBECONFIG = str(EPHEMERAL / "kubeconfig")
PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).parents[3]))


@pytest.fixture(scope="module")
def api():
    return config.new_client_from_config(config_file=KUBECONFIG)


def test_namespaces_carry_their_pod_security_labels(api):
    core = client.CoreV1Api(api)
    labels = {name: core.read_namespace(name).metadata.labels for name in ("iot", "observability", "dsa-agent")}
    assert labels["iot"]["pod-security.kubernetes.io/enforce"] == "restricted"  # dsa_k8s_pod_security
    assert labels["iot"]["pod-security.kubernetes.io/audit"] == "restricted"
    assert labels["observability"]["pod-security.kubernetes.io/enforce"] == "privileged"
    assert "pod-security.kubernetes.io/audit" not in labels["observability"]
    assert labels["dsa-agent"]["team"] == "research"


def test_restricted_namespace_refuses_a_privileged_pod(api):
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="privileged-probe"),
        spec=client.V1PodSpec(containers=[client.V1Container(
            name="c", image="pause", security_context=client.V1SecurityContext(privileged=True))]))
    with pytest.raises(ApiException) as info:
        client.CoreV1Api(api).create_namespaced_pod("iot", pod, dry_run="All")
    assert info.value.status == 403 and "violates PodSecurity" in info.value.body


def test_readonly_service_accounts_can_read_but_not_write_or_see_secrets(api):
    auth = client.AuthorizationV1Api(api)

    def allowed(user, verb, resource, group="", namespace="iot"):
        review = client.V1SubjectAccessReview(spec=client.V1SubjectAccessReviewSpec(
            user=user, groups=["system:serviceaccounts"],
            resource_attributes=client.V1ResourceAttributes(verb=verb, resource=resource, group=group, namespace=namespace)))
        return auth.create_subject_access_review(review).status.allowed

    for user in ("system:serviceaccount:dsa-agent:dsa-agent", "system:serviceaccount:observability:monitoring"):
        assert allowed(user, "list", "pods")
        assert allowed(user, "watch", "deployments", group="apps")
        assert allowed(user, "get", "servicemonitors", group="monitoring.coreos.com")
        assert not allowed(user, "get", "secrets")
        assert not allowed(user, "delete", "pods")
        assert not allowed(user, "patch", "deployments", group="apps")
    client.CoreV1Api(api).read_namespaced_service_account("dsa-agent", "dsa-agent")


def test_a_missing_ingress_class_fails_naming_the_variable():
    env = dict(os.environ, ANSIBLE_CONFIG=str(PROJECT / "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=str(PROJECT / ".cache" / "collections"))
    play = EPHEMERAL / "missing_class.yml"
    play.write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.include_role:\n        name: dsa.platform.microk8s\n        tasks_from: cluster\n")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), str(play),
         "-e", f"microk8s_kubeconfig={KUBECONFIG}", "-e", "microk8s_ingress_class=traefik",
         "-e", "microk8s_api_retries=2", "-e", "microk8s_api_delay=1",
         "-e", f"dsa_credentials_dir={EPHEMERAL}/credentials"],
        capture_output=True, text=True, env=env, timeout=300, check=False)
    assert result.returncode != 0
    assert "microk8s_ingress_class: the cluster has no IngressClass named traefik" in result.stdout
    assert "set microk8s_ingress_class to one of: public" in result.stdout
