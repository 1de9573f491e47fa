"""Every orchestrated inventory's Kubernetes workloads, rendered and applied to a real API server.

For each domain inventory (issue 12, "Tests"): playbooks/render.yml renders the whole set into a
directory; every document passes `kubernetes-validate --strict` for the pinned Kubernetes version
and every custom resource its CRD's openAPIV3Schema (../shared/crds, read in place). Then the set
is applied server-side to a localkube `api` level cluster by playbooks/workloads.yml, CRDs first
(the MicroK8s add-ons' part, stood in for here), twice: the first run is accepted, the second
changes nothing, and every rendered document is on the server, owned by the collection's field
manager. On the applied set: no Service is reachable from outside the cluster, every workload
container is bounded, probed and unprivileged, its Pods are admitted where `restricted` is
enforced, and every namespace the collection creates starts from a default-deny policy. A custom
resource from the real set, broken, is refused with 422; a plaintext secret in a template or
inventory fails the scan.

Nothing here names a role's documents: the checks iterate over whatever the roles render, so
they grow with the roles. Domains share namespace names, so each domain starts from a cluster
without the previous domain's namespaces (deleted, and waited for, between domains).
"""
from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
from shared_paths import SHARED_CRDS
import yaml
from kubernetes import client, config, dynamic
from kubernetes.client.rest import ApiException

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

DOMAINS = ["smart_home_microk8s", "campus_microk8s", "city_microk8s", "health_microk8s", "local_k8s"]
FIELD_MANAGER = "dsa-platform"  # dsa_k8s_field_manager's default; read from the inventory below
# At the api level no Pod ever runs: nothing becomes Ready and there is no node to import images
# into, so every wait and every image delivery is switched off.
APPLY_VARS = {
    "postgresql_k8s_wait": False, "iot_api_k8s_wait": False, "dsa_agent_k8s_wait": False,
    "observability_k8s_wait": False,
    "iot_api_k8s_image_delivery": "none", "dsa_agent_k8s_image_delivery": "none",
}
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob")
LONG_RUNNING = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")
COLLECTION_LABELS = {"app.kubernetes.io/part-of": "dsa-platform", "app.kubernetes.io/managed-by": "dsa-platform"}
# The only Services allowed to be reachable from outside: an ingress controller's.
INGRESS_CONTROLLER = {"app.kubernetes.io/component": "controller"}
INGRESS_CONTROLLER_NAMES = ("ingress-nginx", "nginx-ingress", "ingress-nginx-controller")
NAMESPACE_GONE_TIMEOUT = 120.0


def k8s_version():
    from localkube import util
    return util.pins()["kubernetes"].lstrip("v")


# ---------------------------------------------------------------------------------------------
# Inventory values and rendering


def inventory_values(domain):
    """The platform's Kubernetes variables for an inventory: its group_vars/all over the platform
    role's defaults (the namespaces and the field manager are plain values in both)."""
    values = yaml.safe_load((ROOT / "roles/platform/defaults/main.yml").read_text())
    for path in sorted((ROOT / "inventories" / domain / "group_vars" / "all").glob("*.yml")):
        values.update(yaml.safe_load(path.read_text()) or {})
    return values


@dataclass
class Doc:
    path: Path
    body: dict

    @property
    def key(self):
        meta = self.body.get("metadata") or {}
        return (self.body.get("apiVersion"), self.body.get("kind"), meta.get("namespace"), meta.get("name"))

    def __str__(self):
        api_version, kind, namespace, name = self.key
        where = f"{namespace}/" if namespace else ""
        return f"{kind} {where}{name} ({self.path.parent.name}/{self.path.name})"


def load_documents(directory):
    docs = []
    for path in sorted(Path(directory).rglob("*.yaml")):
        for body in yaml.safe_load_all(path.read_text()):
            if body:
                docs.append(Doc(path, body))
    return docs


def recap(output):
    """PLAY RECAP counters per host: {host: {"ok": n, "changed": n, ...}}."""
    counts = {}
    in_recap = False
    for line in output.splitlines():
        if line.startswith("PLAY RECAP"):
            in_recap = True
            continue
        if in_recap:
            match = re.match(r"^(\S+)\s+:\s+(.*)$", line)
            if match:
                counts[match.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(2))}
    return counts


def changed_tasks(output):
    """Names of the tasks that reported `changed` in a default-callback run (for failure messages)."""
    names, task = [], None
    for line in output.splitlines():
        match = re.match(r"^TASK \[(.*)\]", line)
        if match:
            task = match.group(1)
        elif line.startswith("changed:") and task:
            names.append(task)
    return names


def tail(text, lines=60):
    return "\n".join(text.splitlines()[-lines:])


def failures(output, lines=40):
    """The error lines of an ansible-playbook run (what failed and why), else its tail."""
    found = [line for line in output.splitlines()
             if re.match(r"^(\[ERROR\]|fatal:|failed:|\s+msg:|ERROR!)", line)]
    return "\n".join(line[:1500] for line in found[:lines]) or tail(output, lines)


@pytest.fixture(scope="module")
def rendered(run_playbook, tmp_path_factory):
    """domain -> (render directory, documents) from playbooks/render.yml. The first call starts
    every domain's rendering at once (each is mostly Ansible's start-up and templating, so they
    overlap well); later calls wait for theirs."""
    started, cache = {}, {}

    def render(domain):
        if not started:
            for name in DOMAINS:
                out = tmp_path_factory.mktemp(f"render-{name}")
                log = out.with_name(out.name + ".log")
                proc = run_playbook("-i", f"inventories/{name}", "playbooks/render.yml",
                                    "-e", json.dumps({"dsa_k8s_render_dir": str(out)}), log=log)
                started[name] = (proc, out, log)
        if domain not in cache:
            proc, out, log = started[domain]
            try:
                proc.wait(timeout=900)
            except subprocess.TimeoutExpired:
                proc.kill()
                pytest.fail(f"render.yml for {domain} did not finish in 900 s")
            output = log.read_text()
            assert proc.returncode == 0, f"render.yml failed for {domain}:\n{tail(output, 80)}"
            docs = load_documents(out)
            assert docs, f"render.yml rendered nothing for {domain} into {out}"
            cache[domain] = (out, docs)
        return cache[domain]

    yield render
    for proc, _, _ in started.values():
        if proc.poll() is None:
            proc.kill()


# ---------------------------------------------------------------------------------------------
# CRD schemas (offline)


def shared_crds():
    """(group, kind) -> {version: openAPIV3Schema} for the CRDs in ../shared/crds."""
    schemas = {}
    for path in sorted(SHARED_CRDS.glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            spec = crd["spec"]
            for version in spec["versions"]:
                schema = (version.get("schema") or {}).get("openAPIV3Schema") or {}
                schemas.setdefault((spec["group"], spec["names"]["kind"]), {})[version["name"]] = schema
    return schemas


def crd_schema(body, schemas):
    group, _, version = (body.get("apiVersion") or "").rpartition("/")
    return schemas.get((group, body.get("kind")), {}).get(version)


def crd_errors(body, schema):
    """Schema violations of a custom resource against its CRD version's openAPIV3Schema."""
    validator = jsonschema.Draft7Validator(schema)
    return [f"{'.'.join(str(p) for p in err.absolute_path) or '<root>'}: {err.message}"
            for err in validator.iter_errors(body)]


def break_custom_resource(body, schema):
    """A copy of a custom resource with one field its document sets given the wrong type: the
    first field outside metadata (depth-first: spec, or an OperatorConfiguration's configuration)
    whose schema says integer, array, object or boolean becomes a string. Returns (copy, dotted
    path) or (None, None)."""
    broken = copy.deepcopy(body)

    def walk(node, node_schema, path):
        props = (node_schema or {}).get("properties") or {}
        for name in node:
            sub = props.get(name)
            if not sub:
                continue
            kind = sub.get("type")
            value = node[name]
            if kind in ("integer", "array", "object", "boolean") and not sub.get("x-kubernetes-int-or-string") \
                    and not sub.get("x-kubernetes-preserve-unknown-fields"):
                if kind == "object" and isinstance(value, dict):
                    found = walk(value, sub, f"{path}.{name}")
                    if found:
                        return found
                node[name] = "three" if kind == "integer" else "x"
                return f"{path}.{name}"
        return None

    for top, value in broken.items():
        top_schema = ((schema or {}).get("properties") or {}).get(top)
        if top in ("apiVersion", "kind", "metadata") or not isinstance(value, dict) or not top_schema:
            continue
        where = walk(value, top_schema, top)
        if where:
            return broken, where
    return None, None


# ---------------------------------------------------------------------------------------------
# Rendering: schema validation without a cluster


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_rendered_document_validates_for_the_pinned_version(domain, rendered):
    out, docs = rendered(domain)
    files = sorted({str(doc.path) for doc in docs})
    binary = Path(sys.executable).with_name("kubernetes-validate")
    proc = subprocess.run([str(binary) if binary.exists() else "kubernetes-validate", "--strict", "--quiet",
                           "--kubernetes-version", k8s_version(), *files],
                          capture_output=True, text=True, timeout=300, check=False)
    errors = [line for line in proc.stdout.splitlines() + proc.stderr.splitlines() if line.startswith("ERROR")]
    assert proc.returncode == 0 and not errors, "\n".join(errors) or proc.stdout[-3000:] + proc.stderr[-3000:]

    # Kinds it has no schema for are custom resources: each must match a CRD's schema.
    schemas = shared_crds()
    rendered_crds = {doc.body["spec"]["names"]["kind"] for doc in docs
                     if doc.body.get("kind") == "CustomResourceDefinition"}
    problems = []
    for doc in custom_resources(docs):
        schema = crd_schema(doc.body, schemas)
        if schema is None:
            if doc.body.get("kind") not in rendered_crds:  # else the server checks it against its CRD
                problems.append(f"{doc}: no CRD in {SHARED_CRDS} nor in the rendered set defines it")
            continue
        problems.extend(f"{doc}: {err}" for err in crd_errors(doc.body, schema))
    assert not problems, "\n".join(problems)


def custom_resources(docs):
    """The documents of kinds Kubernetes itself does not define (kubernetes-validate has no schema)."""
    out = []
    for doc in docs:
        try:
            kubernetes_validate.validate(doc.body, k8s_version(), strict=False)
        except kubernetes_validate.SchemaNotFoundError:
            out.append(doc)
        except kubernetes_validate.ValidationError:
            pass  # reported by the command above
    return out


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_rendered_document_carries_the_collection_labels(domain, rendered):
    _, docs = rendered(domain)
    problems = []
    for doc in docs:
        labels = (doc.body.get("metadata") or {}).get("labels") or {}
        if doc.body.get("kind") == "CustomResourceDefinition":
            continue  # upstream definitions, applied as published
        missing = [k for k in ("app.kubernetes.io/name", "app.kubernetes.io/part-of", "app.kubernetes.io/managed-by")
                   if k not in labels]
        wrong = [f"{k}={labels[k]}" for k, v in COLLECTION_LABELS.items() if k in labels and labels[k] != v]
        if missing or wrong:
            problems.append(f"{doc}: missing {missing} wrong {wrong}")
    assert not problems, "\n".join(problems)


def test_the_offline_crd_check_rejects_a_broken_custom_resource():
    """The schema check above can fail: a ServiceMonitor whose endpoints is a string."""
    schemas = shared_crds()
    monitor = {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
               "metadata": {"name": "m"}, "spec": {"endpoints": [{"port": "metrics"}], "selector": {}}}
    schema = crd_schema(monitor, schemas)
    assert schema is not None and crd_errors(monitor, schema) == []
    broken, where = break_custom_resource(monitor, schema)
    assert where == "spec.endpoints" and broken["spec"]["endpoints"] == "x"
    assert crd_errors(broken, schema) == ["spec.endpoints: 'x' is not of type 'array'"]


# ---------------------------------------------------------------------------------------------
# No plaintext secret in templates, inventories or molecule scenarios

SECRET_SCAN_ROOTS = ("roles/*/templates", "inventories", "molecule")
SCANNED_SUFFIXES = (".yml", ".yaml", ".j2", ".json", ".ini", ".cfg", ".toml", ".env")
# A key that names a password (password, dsa_database_password, PGPASSWORD, db.passwd), not one
# that merely mentions it (password_encryption, enable_password_rotation).
PASSWORD_KEY = re.compile(r"^\s*-?\s*([\"']?)(?P<key>[A-Za-z0-9_.-]*(?:password|passwd))\1\s*[:=]\s*(?P<value>.*)$",
                          re.IGNORECASE)


def _literal(value):
    """Whether a YAML scalar (as written) is a literal secret value: not empty, not null, not a
    Jinja expression or lookup, not an Ansible Vault value, not a reference to a file or variable."""
    value = value.split(" #", 1)[0].strip().strip("\"'").strip()
    if value in ("", "~", "null", "None", "|", ">", "|-", ">-", "{}", "[]"):
        return False
    if "{{" in value or "{%" in value or value.startswith("!vault") or value.startswith("$ANSIBLE_VAULT"):
        return False
    if re.fullmatch(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", value):  # an environment variable reference
        return False
    return True


def plaintext_secrets(path, text):
    """Literal values of `password` keys anywhere, and of every key under data:/stringData: of a
    Secret document. Returns 'path:line: why' strings."""
    found = []
    lines = text.splitlines()
    for number, line in enumerate(lines, 1):
        match = PASSWORD_KEY.match(line)
        if match and _literal(match.group("value")):
            found.append(f"{path}:{number}: {match.group('key')} has a literal value")
    # Secret documents: split at document markers; look at the data blocks.
    start = 0
    chunks = []
    for number, line in enumerate(lines + ["---"]):
        if line.strip() == "---" or line.startswith("--- "):
            chunks.append((start, lines[start:number]))
            start = number + 1
    for offset, chunk in chunks:
        if not any(re.match(r"^\s*kind:\s*[\"']?Secret[\"']?\s*$", line) for line in chunk):
            continue
        block_indent = None
        for index, line in enumerate(chunk):
            if not line.strip() or line.lstrip().startswith(("#", "{%", "{#")):
                continue
            indent = len(line) - len(line.lstrip())
            match = re.match(r"^(\s*)(data|stringData)\s*:\s*(.*)$", line)
            if match:
                block_indent = len(match.group(1))
                inline = match.group(3).strip()
                if inline and inline not in ("{}",) and "{{" not in inline:
                    found.append(f"{path}:{offset + index + 1}: Secret {match.group(2)} has literal content")
                continue
            if block_indent is not None:
                if indent <= block_indent:
                    block_indent = None
                    continue
                item = re.match(r"^\s*([\"']?)([^:\"']+)\1\s*:\s*(.*)$", line)
                if item and _literal(item.group(3)):
                    found.append(f"{path}:{offset + index + 1}: Secret data key {item.group(2)} has a literal value")
    return found


def scanned_files(root):
    for pattern in SECRET_SCAN_ROOTS:
        for base in sorted(root.glob(pattern)):
            for path in sorted(base.rglob("*")):
                if path.is_file() and (path.suffix in SCANNED_SUFFIXES or path.name.endswith(".yaml.j2")):
                    yield path


def test_no_plaintext_secret_in_templates_inventories_or_molecule():
    files = list(scanned_files(ROOT))
    assert any(p.match("roles/*/templates/*") or "/templates/" in str(p) for p in files)
    assert any("/inventories/" in str(p) for p in files) and any("/molecule/" in str(p) for p in files)
    found = []
    for path in files:
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        found.extend(plaintext_secrets(path.relative_to(ROOT), text))
    assert not found, "plaintext secrets:\n" + "\n".join(found)


def test_the_secret_scan_finds_plaintext_and_passes_expressions(tmp_path):
    bad = tmp_path / "roles" / "x" / "templates" / "k8s" / "db.secret.yaml.j2"
    bad.parent.mkdir(parents=True)
    bad.write_text("""---
apiVersion: v1
kind: ConfigMap
metadata: {name: harmless}
data:
  mode: simple
---
apiVersion: v1
kind: Secret
metadata:
  name: iot-db-credentials
type: Opaque
stringData:
  username: "{{ dsa_database_user }}"
  password: hunter2
data:
  token: c2VjcmV0
""")
    inventory = tmp_path / "inventories" / "campus" / "group_vars" / "all" / "database.yml"
    inventory.parent.mkdir(parents=True)
    inventory.write_text("dsa_database_user: iot\ndsa_database_password: 's3cret'\n"
                         "iot_api_admin_password: \"{{ lookup('password', '/dev/null') }}\"\n"
                         "grafana_password: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162\n")
    found = [f for p in scanned_files(tmp_path) for f in plaintext_secrets(p.relative_to(tmp_path), p.read_text())]
    assert found == [
        "roles/x/templates/k8s/db.secret.yaml.j2:15: password has a literal value",
        "roles/x/templates/k8s/db.secret.yaml.j2:15: Secret data key password has a literal value",
        "roles/x/templates/k8s/db.secret.yaml.j2:17: Secret data key token has a literal value",
        "inventories/campus/group_vars/all/database.yml:2: dsa_database_password has a literal value",
    ]
    # a key that only mentions passwords is no secret
    assert plaintext_secrets("c.yaml", "password_encryption: scram-sha-256\nenable_password_rotation: false\n") == []


# ---------------------------------------------------------------------------------------------
# Applied to a real API server


@dataclass
class Applied:
    domain: str
    docs: list
    values: dict
    first: subprocess.CompletedProcess
    second: subprocess.CompletedProcess
    client: dynamic.DynamicClient
    api: client.ApiClient
    applied_docs: list = field(default_factory=list)
    seconds: dict = field(default_factory=dict)
    load_error: str | None = None

    def resource(self, body):
        return self.client.resources.get(api_version=body["apiVersion"], kind=body["kind"])

    def live(self, doc):
        resource = self.resource(doc.body)
        meta = doc.body["metadata"]
        return resource.get(name=meta["name"], namespace=meta.get("namespace") if resource.namespaced else None)

    def namespaces_created(self):
        return [doc.body["metadata"]["name"] for doc in self.docs if doc.body.get("kind") == "Namespace"]

    def namespaces_used(self):
        names = set(self.namespaces_created())
        names.update(doc.body["metadata"].get("namespace") for doc in self.docs)
        names.discard(None)
        return sorted(names)


def _namespaces_of(docs, values):
    names = {doc.body["metadata"]["name"] for doc in docs if doc.body.get("kind") == "Namespace"}
    names.update(doc.body.get("metadata", {}).get("namespace") for doc in docs)
    names.update(values.get(k) for k in ("dsa_k8s_database_namespace", "dsa_k8s_apps_namespace",
                                         "dsa_k8s_agent_namespace", "dsa_k8s_monitoring_namespace"))
    names.discard(None)
    return names - {"default", "kube-system", "kube-public", "kube-node-lease"}


def _delete_namespaces(core, names, timeout=NAMESPACE_GONE_TIMEOUT):
    """Delete the namespaces and wait until they are gone (the namespace controller empties them)."""
    existing = {ns.metadata.name for ns in core.list_namespace().items}
    for name in sorted(names & existing):
        try:
            core.delete_namespace(name)
        except ApiException as err:
            if err.status != 404:
                raise
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = names & {ns.metadata.name for ns in core.list_namespace().items}
        if not left:
            return
        time.sleep(0.5)
    pytest.fail(f"namespaces still present {timeout:.0f} s after deletion: {sorted(left)}")


# What the previous domain left: its namespaces and cluster-scoped objects (deleted before the next).
_PREVIOUS: dict = {"namespaces": set(), "cluster_scoped": []}


@pytest.fixture(scope="module", params=DOMAINS)
def applied(request, localkube_api, rendered, run_playbook, shared_crds, tmp_path_factory):
    """One domain rendered, applied twice by playbooks/workloads.yml, on a cluster cleaned of the
    previous domain. Module scope with params: all tests of one domain run before the next's."""
    domain = request.param
    seconds = {}
    _, docs = rendered(domain)
    values = inventory_values(domain)
    api = config.new_client_from_config(config_file=str(localkube_api))
    core = client.CoreV1Api(api)

    started = time.monotonic()
    dyn = dynamic.DynamicClient(api)
    for body in _PREVIOUS["cluster_scoped"]:
        try:
            dyn.resources.get(api_version=body["apiVersion"], kind=body["kind"]).delete(name=body["metadata"]["name"])
        except ApiException as err:
            if err.status != 404:
                raise
    _delete_namespaces(core, _PREVIOUS["namespaces"] | _namespaces_of(docs, values))
    seconds["clean"] = time.monotonic() - started

    # The MicroK8s observability add-on's namespace exists before the collection's workloads.
    monitoring = values["dsa_k8s_monitoring_namespace"]
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=monitoring)))
    started = time.monotonic()
    rendered_crds = {doc.body["metadata"]["name"] for doc in docs if doc.body.get("kind") == "CustomResourceDefinition"}
    shared_crds(localkube_api, skip=rendered_crds)
    seconds["crds"] = time.monotonic() - started

    out = tmp_path_factory.mktemp(f"apply-{domain}")
    extra = json.dumps(dict(APPLY_VARS, dsa_k8s_kubeconfig=str(localkube_api), dsa_k8s_render_dir=str(out)))
    runs = []
    for _ in range(2):
        started = time.monotonic()
        runs.append(run_playbook("-i", f"inventories/{domain}", "playbooks/workloads.yml", "-e", extra, timeout=900))
        seconds[f"apply{len(runs)}"] = time.monotonic() - started

    _PREVIOUS["namespaces"] = _namespaces_of(docs, values)
    try:
        applied_docs, load_error = load_documents(out), None
    except yaml.YAMLError as err:  # reported by the first test, not as an error of every test
        applied_docs, load_error = [], f"workloads.yml rendered a document that is not YAML: {err}"
    result = Applied(domain, docs, values, runs[0], runs[1], dynamic.DynamicClient(api), api,
                     applied_docs=applied_docs, seconds=seconds, load_error=load_error)
    _PREVIOUS["cluster_scoped"] = [
        doc.body for doc in docs if doc.body.get("kind") != "CustomResourceDefinition"
        and not doc.body["metadata"].get("namespace") and doc.body.get("kind") != "Namespace"]
    sys.stderr.write(f"\n{domain}: {len(docs)} documents; " +
                     ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()) + "\n")
    return result


def _require_applied(applied):
    if applied.first.returncode != 0:
        pytest.fail(f"the first workloads.yml run failed for {applied.domain}:\n{failures(applied.first.stdout)}\n"
                    f"{applied.first.stderr[-2000:]}")


@pytest.mark.kube
def test_the_first_apply_is_accepted_and_applies_what_render_shows(applied):
    _require_applied(applied)
    counts = recap(applied.first.stdout)
    assert "localhost" in counts and counts["localhost"]["failed"] == 0, tail(applied.first.stdout)
    assert counts["localhost"]["changed"] > 0, "the first run on a clean cluster applied nothing"
    # render.yml shows exactly what workloads.yml applies
    assert applied.load_error is None, applied.load_error
    shown, sent = {d.key for d in applied.docs}, {d.key for d in applied.applied_docs}
    assert shown == sent, (f"render.yml only: {sorted(shown - sent, key=str)}; "
                           f"workloads.yml only: {sorted(sent - shown, key=str)}")


@pytest.mark.kube
def test_a_second_apply_changes_nothing(applied):
    _require_applied(applied)
    assert applied.second.returncode == 0, failures(applied.second.stdout)
    counts = recap(applied.second.stdout)
    assert counts.get("localhost", {}).get("changed") == 0, (
        f"second run changed={counts.get('localhost')}; changed tasks: {changed_tasks(applied.second.stdout)}")


@pytest.mark.kube
def test_every_rendered_document_is_on_the_server_owned_by_the_collection(applied):
    _require_applied(applied)
    manager = applied.values.get("dsa_k8s_field_manager", FIELD_MANAGER)
    problems = []
    for doc in applied.docs:
        try:
            resource = applied.resource(doc.body)
        except Exception as err:  # ResourceNotFoundError: the API server serves no such kind
            problems.append(f"{doc}: kind not served: {err}")
            continue
        if resource.namespaced and not doc.body["metadata"].get("namespace"):
            problems.append(f"{doc}: namespaced kind without metadata.namespace (would land in the client's default)")
            continue
        try:
            live = applied.live(doc).to_dict()
        except ApiException as err:
            problems.append(f"{doc}: not on the server ({err.status} {err.reason})")
            continue
        managers = {(m.get("manager"), m.get("operation")) for m in live["metadata"].get("managedFields") or []}
        if (manager, "Apply") not in managers:
            problems.append(f"{doc}: not server-side applied by {manager} (managers {sorted(managers)})")
        labels = live["metadata"].get("labels") or {}
        for key, value in ((doc.body["metadata"].get("labels")) or {}).items():
            if labels.get(key) != str(value):
                problems.append(f"{doc}: label {key}={value} not on the server ({labels.get(key)})")
    assert not problems, "\n".join(problems)


def _services(applied):
    """Every Service in the namespaces the domain's workloads use."""
    core = client.CoreV1Api(applied.api)
    services = []
    for namespace in applied.namespaces_used():
        services.extend(core.list_namespaced_service(namespace).items)
    return services


@pytest.mark.kube
def test_no_service_is_reachable_from_outside_the_cluster(applied):
    _require_applied(applied)
    database_ns = applied.values["dsa_k8s_database_namespace"]
    problems = []
    services = _services(applied)
    for svc in services:
        labels = svc.metadata.labels or {}
        where = f"Service {svc.metadata.namespace}/{svc.metadata.name}"
        database = labels.get("app.kubernetes.io/component") == "database" or svc.metadata.namespace == database_ns
        exposed = svc.spec.type in ("LoadBalancer", "NodePort") or bool(svc.spec.external_ips)
        ingress_controller = (all(labels.get(k) == v for k, v in INGRESS_CONTROLLER.items())
                              and labels.get("app.kubernetes.io/name") in INGRESS_CONTROLLER_NAMES)
        if database and (exposed or svc.spec.type == "ExternalName"):
            problems.append(f"{where} (database) is of type {svc.spec.type}, externalIPs {svc.spec.external_ips}")
        elif exposed and not ingress_controller:
            problems.append(f"{where} is of type {svc.spec.type}, externalIPs {svc.spec.external_ips}: only an "
                            "ingress controller may be reached from outside")
    # Services an operator creates later (the Zalando cluster's, its pooler's) are asked for in its
    # resources: none may request a load balancer.
    for doc in applied.docs:
        problems.extend(f"{doc}: {path} is true" for path in load_balancer_requests(doc.body))
    assert not problems, "\n".join(problems)


def load_balancer_requests(node, path=""):
    """Dotted paths of every enable...LoadBalancer / enable_..._load_balancer key set true."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}.{key}" if path else key
            if re.fullmatch(r"enable_?.*load_?balancer", str(key), re.IGNORECASE) and value is True:
                found.append(here)
            found.extend(load_balancer_requests(value, here))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(load_balancer_requests(value, f"{path}[{index}]"))
    return found


def test_a_load_balancer_request_in_a_custom_resource_is_found():
    cluster = {"spec": {"enableMasterLoadBalancer": False, "enableMasterPoolerLoadBalancer": True},
               "configuration": {"load_balancer": {"enable_replica_load_balancer": True, "db_hosted_zone": "x"}}}
    assert load_balancer_requests(cluster) == ["spec.enableMasterPoolerLoadBalancer",
                                               "configuration.load_balancer.enable_replica_load_balancer"]


def _pod_template(kind, spec):
    if kind == "CronJob":
        return spec["jobTemplate"]["spec"]["template"]
    return spec["template"]


def _workloads(applied):
    """(doc, live object as the API's JSON) for every workload the domain renders."""
    out = []
    for doc in applied.docs:
        if doc.body.get("kind") in WORKLOAD_KINDS and doc.body.get("apiVersion") in ("apps/v1", "batch/v1"):
            try:
                out.append((doc, applied.live(doc).to_dict()))
            except ApiException as err:
                if err.status != 404:
                    raise
                # missing from the server: the "on the server" test names it
    return out


def container_problems(kind, pod_spec, root_allowed=False):
    """What keeps a workload's containers from being bounded, probed and restricted-compatible.
    root_allowed: the workload is in a documented Pod Security exception namespace (running as
    root there is the reason; everything else still holds)."""
    problems = []
    pod_sc = pod_spec.get("securityContext") or {}
    every = [("initContainer", c) for c in pod_spec.get("initContainers") or []] + \
            [("container", c) for c in pod_spec.get("containers") or []]
    for role, container in every:
        name = f"{role} {container['name']}"
        resources = container.get("resources") or {}
        for part in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if not (resources.get(part) or {}).get(resource):
                    problems.append(f"{name}: no resources.{part}.{resource}")
        # a native sidecar (init container with restartPolicy Always) runs as long as the pod
        long_running = kind in LONG_RUNNING and (role == "container" or container.get("restartPolicy") == "Always")
        if long_running:
            for probe in ("livenessProbe", "readinessProbe"):
                if not container.get(probe):
                    problems.append(f"{name}: no {probe}")
        sc = container.get("securityContext") or {}
        if not root_allowed and not sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")):
            problems.append(f"{name}: runAsNonRoot is not true (container or pod)")
        if not root_allowed and sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
            problems.append(f"{name}: runAsUser 0")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation is not false")
        if sc.get("privileged"):
            problems.append(f"{name}: privileged")
        if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            problems.append(f"{name}: capabilities.drop does not hold ALL")
        added = set((sc.get("capabilities") or {}).get("add") or []) - {"NET_BIND_SERVICE"}
        if added:
            problems.append(f"{name}: adds capabilities {sorted(added)}")
        seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: seccompProfile is {seccomp or 'unset'}, not RuntimeDefault")
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod_spec.get(flag):
            problems.append(f"pod: {flag}")
    return problems


@pytest.mark.kube
def test_every_workload_is_bounded_probed_and_unprivileged(applied):
    _require_applied(applied)
    problems = []
    exceptions = pod_security_exceptions(applied.docs)
    for doc, live in _workloads(applied):
        spec = live["spec"]
        root_allowed = live["metadata"]["namespace"] in exceptions
        for problem in container_problems(doc.body["kind"], _pod_template(doc.body["kind"], spec)["spec"],
                                          root_allowed=root_allowed):
            problems.append(f"{doc}: {problem}")
    assert not problems, "\n".join(problems)


POD_SECURITY_EXCEPTION = "dsa-platform/pod-security-exception"


def pod_security_exceptions(docs):
    """Namespaces that enforce a Pod Security level other than restricted and say why in the
    annotation dsa-platform/pod-security-exception (the log collector's namespace: Fluentd reads
    the node's root-owned log files through hostPath). namespace -> (level, reason)."""
    exceptions = {}
    for doc in docs:
        if doc.body.get("kind") != "Namespace":
            continue
        meta = doc.body["metadata"]
        level = (meta.get("labels") or {}).get("pod-security.kubernetes.io/enforce")
        reason = ((meta.get("annotations") or {}).get(POD_SECURITY_EXCEPTION) or "").strip()
        if level and level != "restricted" and reason:
            exceptions[meta["name"]] = (level, reason)
    return exceptions


@pytest.mark.kube
def test_workload_namespaces_enforce_restricted_and_admit_the_pod_templates(applied):
    _require_applied(applied)
    core = client.CoreV1Api(applied.api)
    exceptions = pod_security_exceptions(applied.docs)
    problems = []
    for doc, raw in _workloads(applied):
        namespace = raw["metadata"]["namespace"]
        labels = core.read_namespace(namespace).metadata.labels or {}
        level = labels.get("pod-security.kubernetes.io/enforce")
        if level != "restricted" and namespace not in exceptions:
            problems.append(f"{doc}: namespace {namespace} enforces {level or 'nothing'}, not restricted "
                            "(and documents no exception)")
        template = copy.deepcopy(_pod_template(doc.body["kind"], raw["spec"]))
        pod_spec = template["spec"]
        # a StatefulSet's claims become volumes of its pods
        for claim in raw["spec"].get("volumeClaimTemplates") or []:
            claim_name = claim["metadata"]["name"]
            pod_spec.setdefault("volumes", []).append(
                {"name": claim_name,
                 "persistentVolumeClaim": {"claimName": f"{claim_name}-{raw['metadata']['name']}-0"}})
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": f"{raw['metadata']['name'][:40]}-admission-check", "namespace": namespace,
                            "labels": (template.get("metadata") or {}).get("labels") or {}},
               "spec": pod_spec}
        try:
            core.create_namespaced_pod(namespace, pod, dry_run="All")
        except ApiException as err:
            message = json.loads(err.body).get("message", err.body) if err.body else err.reason
            problems.append(f"{doc}: a Pod from its template is refused in {namespace} ({err.status}): {message}")
    assert not problems, "\n".join(problems)


@pytest.mark.kube
def test_every_collection_namespace_starts_from_default_deny(applied):
    _require_applied(applied)
    networking = client.NetworkingV1Api(applied.api)
    created = applied.namespaces_created()
    assert set(created) >= {applied.values[k] for k in ("dsa_k8s_database_namespace", "dsa_k8s_apps_namespace",
                                                         "dsa_k8s_agent_namespace")}
    problems = []
    for namespace in created:
        policies = applied.api.sanitize_for_serialization(networking.list_namespaced_network_policy(namespace))
        deny = [p["metadata"]["name"] for p in policies["items"]
                if not (p["spec"].get("podSelector") or {})
                and sorted(p["spec"].get("policyTypes") or []) == ["Egress", "Ingress"]
                and not p["spec"].get("ingress") and not p["spec"].get("egress")]
        if not deny:
            problems.append(f"namespace {namespace}: no NetworkPolicy selecting every pod with policyTypes "
                            "Ingress and Egress and no rules (default deny)")
    assert not problems, "\n".join(problems)


@pytest.mark.kube
def test_a_broken_custom_resource_from_the_rendered_set_is_refused(applied):
    """Each custom resource the domain renders, with one field of the wrong type: the server answers
    422; the unbroken document is accepted the same way (dry run), so the 422 is the break's."""
    _require_applied(applied)
    schemas = shared_crds()
    candidates = [doc for doc in applied.docs if crd_schema(doc.body, schemas) is not None]
    if not candidates:
        pytest.fail(f"{applied.domain} renders no custom resource of the ../shared/crds kinds: every domain renders ServiceMonitors")
    problems = []
    for doc in candidates:
        schema = crd_schema(doc.body, schemas)
        broken, where = break_custom_resource(doc.body, schema)
        if broken is None:
            problems.append(f"{doc}: found no typed field to break")
            continue
        assert crd_errors(broken, schema), f"{doc}: the offline check accepts the broken copy ({where})"
        resource = applied.resource(doc.body)
        namespace = doc.body["metadata"].get("namespace")
        # A create (POST) under a new name, dry run: schema errors are 422. (Server-side apply of
        # a wrongly typed field fails earlier, building the typed patch, with a 500.)
        for label, body in (("as rendered", doc.body), (f"with {where} broken", broken)):
            body = copy.deepcopy(body)
            body["metadata"] = {"name": f"{body['metadata']['name'][:40]}-schema-check", "namespace": namespace,
                                "labels": body["metadata"].get("labels") or {}}
            try:
                resource.create(body=body, namespace=namespace, dry_run="All")
            except ApiException as err:
                if label != "as rendered" and err.status == 422:
                    continue
                message = json.loads(err.body).get("message", err.body) if err.body else err.reason
                problems.append(f"{doc} {label}: {err.status} {message[:300]}")
            else:
                if label != "as rendered":
                    problems.append(f"{doc} {label}: accepted by the server")
    assert not problems, "\n".join(problems)

