"""Every role documents exactly the variables it defaults: meta/argument_specs.yml is the doc.

A role may have entry points besides `main` (tasks_from=<name>): each must have its task file and
its own spec, and every entry point the collection calls must be documented."""
import re
from pathlib import Path

import pytest
import yaml

TOP = Path(__file__).parents[2]
ROLES = sorted(p for p in (TOP / "roles").iterdir() if (p / "tasks").is_dir())
# The platform role carries the platform contract, whose variables are dsa_* by design.
PREFIX = {"platform": "dsa_"}


def _specs(role):
    spec_file = role / "meta" / "argument_specs.yml"
    assert spec_file.is_file(), f"{role.name}: meta/argument_specs.yml is missing"
    return yaml.safe_load(spec_file.read_text())["argument_specs"]


def _options(spec):
    return spec.get("options") or {}


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_defaults_equal_argument_spec_options(role):
    defaults_file = role / "defaults" / "main.yml"
    defaults = (yaml.safe_load(defaults_file.read_text()) or {}) if defaults_file.is_file() else {}
    specs = _specs(role)
    documented = {name for spec in specs.values() for name, opt in _options(spec).items() if not opt.get("required")}
    assert sorted(defaults) == sorted(documented), (
        f"{role.name}: defaults/main.yml and meta/argument_specs.yml disagree: "
        f"only in defaults {sorted(set(defaults) - documented)}, only in the spec {sorted(documented - set(defaults))}"
    )
    assert set(_options(specs["main"])) <= set(defaults) | {
        n for n, o in _options(specs["main"]).items() if o.get("required")}


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_every_entry_point_has_its_task_file(role):
    missing = [name for name in _specs(role) if not (role / "tasks" / f"{name}.yml").is_file()]
    assert not missing, f"{role.name}: entry points without tasks/<name>.yml: {missing}"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_public_variables_carry_the_role_name(role):
    prefix = PREFIX.get(role.name, f"{role.name}_")
    for entry, spec in _specs(role).items():
        options = _options(spec)
        wrong = [name for name in options if not name.startswith(prefix)]
        assert not wrong, f"{role.name} ({entry}): variables without the prefix {prefix}: {wrong}"
        undocumented = [name for name, opt in options.items() if not opt.get("description")]
        assert not undocumented, f"{role.name} ({entry}): variables without a description: {undocumented}"
        assert spec.get("short_description"), f"{role.name} ({entry}): no short_description"


_CALL = re.compile(r"name:\s*dsa\.platform\.(\w+)\s*\n\s*tasks_from:\s*(\w+)")


def test_every_entry_point_the_collection_calls_is_documented():
    """include_role/import_role ... tasks_from=X anywhere in the tree names a documented entry point."""
    calls = set()
    for path in list(TOP.glob("roles/**/*.yml")) + list(TOP.glob("playbooks/**/*.yml")) + list(TOP.glob("molecule/**/*.yml")):
        calls |= set(_CALL.findall(path.read_text()))
    assert ("platform", "apt") in calls  # the pattern still finds what the roles do
    undocumented = sorted(f"{role}:{entry}" for role, entry in calls
                          if entry not in _specs(TOP / "roles" / role))
    assert not undocumented, f"entry points called but not in meta/argument_specs.yml: {undocumented}"
