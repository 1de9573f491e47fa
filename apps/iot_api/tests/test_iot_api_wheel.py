"""The wheel the iot_api role installs on every host holds the runtime package only: no test or
benchmark helper (such as the private PostgreSQL server), and no module that nothing at runtime
imports. Built with the roles' script (roles/platform/files/build_wheel.py), together with the
shared package it depends on (apps/dsa_service), as the role does."""
import ast
import configparser
import json
import os
import subprocess
import sys
import zipfile

import pytest

APP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(APP), "dsa_service")
BUILD = os.path.join(os.path.dirname(os.path.dirname(APP)), "roles", "platform", "files",
                     "build_wheel.py")
# What the hosts run: the console script (from the wheel's entry points), the WSGI app and the
# gunicorn config module (iot-api serve execs gunicorn with both).
RUNTIME_ROOTS = ("iot_api.wsgi", "iot_api.gunicorn_conf")
TEST_ONLY_IMPORTS = ("pytest", "hypothesis", "schemathesis", "iot_api_pgserver",
                     "iot_api_helpers")


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    res = subprocess.run([sys.executable, BUILD, SHARED, APP, str(out)], capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    return json.loads(res.stdout)


@pytest.fixture(scope="module")
def wheel(build):
    with zipfile.ZipFile(build["path"]) as z:
        return {name: z.read(name) for name in z.namelist()}


def test_the_shared_package_is_built_beside_and_installed_from_here(build, wheel):
    shared, app = build["wheels"]
    assert app["path"] == build["path"] and shared["wheel"].startswith("dsa_service-0.1.0-")
    with zipfile.ZipFile(shared["path"]) as z:
        names = z.namelist()
    assert {n.split("/")[0] for n in names} == {"dsa_service", "dsa_service-0.1.0.dist-info"}
    # The services' shared test support stays in the source tree (apps/dsa_service/tests).
    assert not [n for n in names if "testing" in n or "/tests/" in n]
    assert "Requires-Dist: dsa-service==0.1.0" in wheel["iot_api-0.1.0.dist-info/METADATA"].decode()
    # What the hosts' pip fetches from their index: both packages' dependencies, never the shared one.
    assert not [r for r in build["requires"] if r.lower().startswith(("dsa-service", "dsa_service"))]
    assert {"flask==3.1.3", "psycopg2-binary==2.9.13", "prometheus-client==0.26.0"} <= set(build["requires"])


def _module(path: str) -> str:
    return path[:-3].replace("/", ".").removesuffix(".__init__")


def _imports(module: str, source: bytes, is_package: bool) -> set[str]:
    """Absolute names of the modules imported anywhere in the source (also inside functions)."""
    package = module if is_package else module.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([node.module] if node.module else []))
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)
    return out


def test_wheel_holds_only_the_runtime_package(wheel):
    tops = {name.split("/")[0] for name in wheel}
    assert tops == {"iot_api", "iot_api-0.1.0.dist-info"}, tops
    assert "iot_api/migrations/0001_init.sql" in wheel
    assert not [n for n in wheel if "pgserver" in n or "/tests/" in n or "bench" in n]


def test_every_module_in_the_wheel_is_used_at_runtime(wheel):
    entry_points = configparser.ConfigParser()
    entry_points.read_string(wheel["iot_api-0.1.0.dist-info/entry_points.txt"].decode())
    script = entry_points["console_scripts"]["iot-api"]
    assert script == "iot_api.cli:main"
    modules = {_module(n): n for n in wheel if n.endswith(".py")}
    graph = {m: _imports(m, wheel[n], n.endswith("__init__.py")) for m, n in modules.items()}
    for m, imported in graph.items():
        bad = {i for i in imported if i.split(".")[0] in TEST_ONLY_IMPORTS}
        assert not bad, f"{m} imports test-only modules {bad}"
    reached, todo = set(), ["iot_api", script.split(":")[0], *RUNTIME_ROOTS]
    while todo:
        m = todo.pop()
        if m in modules and m not in reached:
            reached.add(m)
            todo.extend(graph[m])
            todo.extend(m.rsplit(".", i)[0] for i in range(1, m.count(".") + 1))  # parents
    assert set(modules) - reached == set(), "modules nothing at runtime imports"
