"""The inventory's variables: read the current values, apply a patch to a copy, check the copy.

Variables live in ``group_vars/<group>.yml`` or ``group_vars/<group>/*.yml``. A patch is
``{group: {variable: value}}``. The check runs the collection's own preflight,
``ansible-playbook playbooks/validate.yml --tags inventory -i <patched copy>`` (no host contact),
so the agent never proposes what the roles would refuse.
"""
import copy
import difflib
import os
import shutil
import subprocess
import sys
import tempfile

import yaml

# The variables suggestions may touch, the group whose group_vars hold them, and the default of
# the role that owns them (roles/*/defaults/main.yml).
VARIABLES = {
    "iot_api_nginx_balance": ("iot_api", "round_robin"),
    "iot_api_instances": ("iot_api", 2),
    "iot_api_workers": ("iot_api", 2),
    "iot_api_worker_class": ("iot_api", "gthread"),
    "iot_api_threads": ("iot_api", 4),
    "iot_api_pool_size": ("iot_api", 8),
    "postgresql_max_connections": ("postgresql", 200),
    "k6_preset": ("loadgen", "smoke"),
}
BALANCE_METHODS = ("round_robin", "least_conn", "ip_hash", "random two least_conn")
K6_PRESETS = ("smoke", "reference", "capacity")


class InventoryError(ValueError):
    pass


def _group_files(inv: str, group: str) -> list[str]:
    gv = os.path.join(inv, "group_vars")
    out = []
    for ext in (".yml", ".yaml"):
        if os.path.isfile(os.path.join(gv, group + ext)):
            out.append(os.path.join(gv, group + ext))
    d = os.path.join(gv, group)
    if os.path.isdir(d):
        out += sorted(os.path.join(d, n) for n in os.listdir(d) if n.endswith((".yml", ".yaml")))
    return out


def _load_yaml(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        try:
            doc = yaml.safe_load(f)
        except yaml.YAMLError as e:
            raise InventoryError(f"{path}: not valid YAML: {e}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise InventoryError(f"{path}: not a mapping of variables")
    return doc


def current(inv: str | None) -> dict:
    """Each known variable's value: the inventory's (group_vars/all, then its group) or the role
    default. Values that are templates stay as their text."""
    values = {k: v[1] for k, v in VARIABLES.items()}
    source = {k: "role default" for k in VARIABLES}
    if not inv:
        return {"values": values, "source": source}
    for group in ("all", *sorted({g for g, _ in VARIABLES.values()})):
        for path in _group_files(inv, group):
            for k, v in _load_yaml(path).items():
                if k in VARIABLES and (group == "all" or VARIABLES[k][0] == group):
                    values[k] = v
                    source[k] = os.path.relpath(path, inv)
    return {"values": values, "source": source}


def target_file(inv: str, group: str) -> str:
    files = _group_files(inv, group)
    single = [f for f in files if os.path.dirname(f) == os.path.join(inv, "group_vars")]
    if single:
        return single[0]
    if files:
        return files[-1]
    return os.path.join(inv, "group_vars", group + ".yml")


def apply(inv: str, patch: dict, dest: str) -> list[str]:
    """Copy the inventory to ``dest`` and merge ``patch`` into its group_vars. Returns the
    changed files (relative)."""
    shutil.copytree(inv, dest, symlinks=True, dirs_exist_ok=True)
    changed = []
    for group, variables in patch.items():
        path = target_file(dest, group)
        doc = _load_yaml(path) if os.path.exists(path) else {}
        doc.update(variables)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write("---\n" + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False))
        changed.append(os.path.relpath(path, dest))
    return changed


def diff(inv: str | None, patch: dict) -> str:
    """A unified diff of the group_vars files the patch changes."""
    out = []
    for group, variables in patch.items():
        if inv:
            path = target_file(inv, group)
            rel = os.path.relpath(path, inv)
            old_text = open(path, encoding="utf-8").read() if os.path.exists(path) else ""
            doc = _load_yaml(path) if os.path.exists(path) else {}
        else:
            rel, old_text, doc = f"group_vars/{group}.yml", "", {}
        new = copy.deepcopy(doc)
        new.update(variables)
        new_text = "---\n" + yaml.safe_dump(new, sort_keys=False, default_flow_style=False)
        if not old_text:
            old_text = ""
        # Diff the variables as YAML (comments of the original are kept in the real file).
        old_norm = "---\n" + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False) \
            if doc else ""
        out += difflib.unified_diff(old_norm.splitlines(True), new_text.splitlines(True),
                                    "a/" + rel, "b/" + rel)
    return "".join(out)


def _argument_specs(root: str) -> dict:
    """Each role variable's spec (type, choices) from roles/*/meta/argument_specs.yml."""
    out = {}
    roles = os.path.join(root, "roles")
    if not os.path.isdir(roles):
        return out
    for role in os.listdir(roles):
        path = os.path.join(roles, role, "meta", "argument_specs.yml")
        if not os.path.isfile(path):
            continue
        try:
            doc = _load_yaml(path)
        except InventoryError:
            continue
        for entry in (doc.get("argument_specs") or {}).values():
            out.update((entry or {}).get("options") or {})
    return out


def static_check(inv: str | None, patch: dict, playbook: str | None) -> list[str]:
    """What the argument specs say (types, choices) and the PostgreSQL connection budget:
    every pool of every worker of every instance must fit in postgresql_max_connections."""
    problems = []
    specs = _argument_specs(os.path.dirname(os.path.dirname(playbook))) if playbook else {}
    flat = {k: v for variables in patch.values() for k, v in variables.items()}
    for k, v in flat.items():
        spec = specs.get(k) or {}
        if spec.get("type") == "int" and not (isinstance(v, int) and not isinstance(v, bool)):
            problems.append(f"{k}: must be an integer, got {v!r}")
        if spec.get("choices") and v not in spec["choices"]:
            problems.append(f"{k}: must be one of {spec['choices']}, got {v!r}")
    if "iot_api_nginx_balance" in flat and flat["iot_api_nginx_balance"] not in BALANCE_METHODS:
        problems.append(f"iot_api_nginx_balance: must be one of {list(BALANCE_METHODS)}")
    if "k6_preset" in flat and flat["k6_preset"] not in K6_PRESETS:
        problems.append(f"k6_preset: must be one of {list(K6_PRESETS)}")
    vals = dict(current(inv)["values"])
    vals.update(flat)
    try:
        need = int(vals["iot_api_instances"]) * int(vals["iot_api_workers"]) * int(
            vals["iot_api_pool_size"])
        have = int(vals["postgresql_max_connections"])
    except (TypeError, ValueError):
        return problems  # templated values: the playbook's check decides
    if need > have - 10:
        problems.append(f"iot_api_pool_size: instances x workers x pool = {need} connections,"
                        f" more than postgresql_max_connections ({have}) less 10 reserved")
    return problems


def find_playbook(inv: str | None, explicit: str = "") -> str | None:
    if explicit:
        return explicit if os.path.isfile(explicit) else None
    if not inv:
        return None
    d = os.path.abspath(inv)
    for _ in range(4):
        cand = os.path.join(d, "playbooks", "validate.yml")
        if os.path.isfile(cand):
            return cand
        d = os.path.dirname(d)
    return None


def validate(inv: str | None, patch: dict, timeout: float = 120.0, playbook: str = "") -> dict:
    """Check the patched inventory with validate.yml. ``ok`` is None when it could not run."""
    for group, variables in patch.items():
        for k, v in variables.items():
            if k not in VARIABLES:
                return {"ok": False, "detail": f"{k}: not a variable the agent may change"}
            if VARIABLES[k][0] != group:
                return {"ok": False, "detail": f"{k}: belongs in group_vars/{VARIABLES[k][0]}"}
    problems = static_check(inv, patch, find_playbook(inv, playbook))
    if problems:
        return {"ok": False, "detail": "; ".join(problems)}
    if not inv:
        return {"ok": None, "detail": "no inventory directory configured (DSA_AGENT_INVENTORY):"
                                      " not checked"}
    pb = find_playbook(inv, playbook)
    if pb is None:
        return {"ok": None, "detail": "playbooks/validate.yml not found next to the inventory:"
                                      " not checked"}
    exe = shutil.which("ansible-playbook") or os.path.join(os.path.dirname(sys.executable),
                                                           "ansible-playbook")
    if not os.path.exists(exe):
        return {"ok": None, "detail": "ansible-playbook is not installed: not checked"}
    with tempfile.TemporaryDirectory(prefix="dsa-agent-inv-") as tmp:
        dest = os.path.join(tmp, os.path.basename(os.path.abspath(inv)))
        apply(inv, patch, dest)
        env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0")
        try:
            proc = subprocess.run([exe, pb, "--tags", "inventory", "-i", dest], env=env,
                                  capture_output=True, text=True, timeout=timeout,
                                  cwd=os.path.dirname(os.path.dirname(pb)))
        except subprocess.TimeoutExpired:
            return {"ok": None, "detail": f"validate.yml did not finish within {timeout:g} s"}
    text = (proc.stdout + proc.stderr).replace(dest, "<patched inventory>")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if proc.returncode == 0:
        return {"ok": True, "detail": "ansible-playbook playbooks/validate.yml --tags inventory"
                                      " passed on the patched copy"}
    msgs = [ln.strip() for ln in lines if "msg" in ln or "FAILED" in ln or "ERROR" in ln]
    return {"ok": False, "detail": "\n".join((msgs or lines)[-12:])[:3000]}
