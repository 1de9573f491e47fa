"""Every role documents exactly the variables it defaults: meta/argument_specs.yml is the doc."""
from pathlib import Path

import pytest
import yaml

ROLES = sorted(p for p in (Path(__file__).parents[2] / "roles").iterdir() if (p / "tasks").is_dir())


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_defaults_equal_argument_spec_options(role):
    defaults_file = role / "defaults" / "main.yml"
    spec_file = role / "meta" / "argument_specs.yml"
    assert spec_file.is_file(), f"{role.name}: meta/argument_specs.yml is missing"
    defaults = yaml.safe_load(defaults_file.read_text()) or {} if defaults_file.is_file() else {}
    options = yaml.safe_load(spec_file.read_text())["argument_specs"]["main"].get("options") or {}
    assert sorted(defaults) == sorted(k for k, v in options.items() if not v.get("required")), (
        f"{role.name}: defaults/main.yml and meta/argument_specs.yml disagree: "
        f"only in defaults {sorted(set(defaults) - set(options))}, "
        f"only in the spec {sorted(set(options) - set(defaults))}"
    )


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_public_variables_carry_the_role_name(role):
    spec_file = role / "meta" / "argument_specs.yml"
    options = yaml.safe_load(spec_file.read_text())["argument_specs"]["main"].get("options") or {}
    wrong = [name for name in options if not name.startswith(f"{role.name}_")]
    assert not wrong, f"{role.name}: variables without the role prefix: {wrong}"
    undocumented = [name for name, spec in options.items() if not spec.get("description")]
    assert not undocumented, f"{role.name}: variables without a description: {undocumented}"
