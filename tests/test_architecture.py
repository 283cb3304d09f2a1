"""Folders are floors: imports point down, the worker loads no history tools, deploy/ stays data.

The floors, bottom to top (README.md, docs/architecture.md):

    foundation                      records, settings, catalogue, calendar, episodes
    connectors    detectors         live sources and archive | pure online detectors (River API)
    streams                         the Faust worker: signals, detectors, checkpoints, metrics
    offline                         evaluation, backtest, report, backfill, rules backtest
    plumbline                       the CLI, the local stack, the demo (composition root)

Every import statement is read, module level or inside a function, so a lazy import cannot hide an
upward arrow.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

#: Which project packages each package may import (besides itself).
ALLOWED: dict[str, set[str]] = {
    "foundation": set(),
    "connectors": {"foundation"},
    "detectors": set(),
    "streams": {"foundation", "detectors"},
    "offline": {"foundation", "connectors", "detectors", "streams"},
    "plumbline": {"foundation", "connectors", "detectors", "streams", "offline"},
}
PROJECT = set(ALLOWED)
#: Third-party packages a package must never load, even indirectly (checked in a fresh interpreter).
FORBIDDEN_LOADED: dict[str, set[str]] = {
    "foundation": {"kafka", "faust", "prometheus_client", "pandas", "river"},
    "detectors": {"kafka", "faust", "aiokafka", "prometheus_client", "pandas"},
    "connectors": {"faust", "river", "prometheus_client"},
}


def _imported_packages(path: Path) -> set[tuple[str, int]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {(alias.name.split(".")[0], node.lineno) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add((node.module.split(".")[0], node.lineno))
    return found


def _arrows(folder: str) -> list[tuple[str, str, int]]:
    return [
        (str(path.relative_to(REPO_ROOT)), target, line)
        for path in sorted((REPO_ROOT / folder).rglob("*.py"))
        for target, line in _imported_packages(path)
        if target in PROJECT and target != folder
    ]


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_point_down_the_floors(package: str) -> None:
    upward = [
        f"{file}:{line} imports {target}"
        for file, target, line in _arrows(package)
        if target not in ALLOWED[package]
    ]
    allowed = ", ".join(sorted(ALLOWED[package])) or "nothing of the project"
    assert not upward, f"{package} may import {allowed}:\n" + "\n".join(upward)


def test_no_two_packages_import_each_other() -> None:
    edges = {(package, target) for package in ALLOWED for _, target, _ in _arrows(package)}
    cycles = sorted((a, b) for a, b in edges if (b, a) in edges and a < b)
    assert not cycles


def test_nothing_under_deploy_imports_a_project_package() -> None:
    arrows = [
        f"{path.relative_to(REPO_ROOT)}:{line} imports {target}"
        for path in sorted((REPO_ROOT / "deploy").rglob("*.py"))
        for target, line in _imported_packages(path)
        if target in PROJECT
    ]
    assert not arrows


def _loaded_in_fresh_interpreter(code: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", code + "\nprint(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


WALK = """
import importlib, pkgutil, sys
package = importlib.import_module({package!r})
for info in pkgutil.walk_packages(package.__path__, {package!r} + "."):
    importlib.import_module(info.name)
"""


@pytest.mark.parametrize("package", sorted(FORBIDDEN_LOADED))
def test_package_loads_none_of_the_forbidden(package: str) -> None:
    loaded = _loaded_in_fresh_interpreter(WALK.format(package=package))
    assert package in loaded
    assert not loaded & FORBIDDEN_LOADED[package], (
        f"{package} pulls in {sorted(loaded & FORBIDDEN_LOADED[package])}"
    )


def test_the_worker_loads_no_history_tools_nor_pandas_or_matplotlib() -> None:
    # What `plumbline worker` imports: the CLI with every subcommand registered, and the Faust app.
    loaded = _loaded_in_fresh_interpreter(
        "import importlib, sys\n"
        "from plumbline.commands import COMMAND_MODULES\n"
        "for name in COMMAND_MODULES: importlib.import_module(name)\n"
        "import plumbline.cli, streams.app, streams.metrics, streams.checkpoint\n"
    )
    assert "streams" in loaded and "faust" in loaded
    assert not loaded & {"offline", "pandas", "matplotlib"}, sorted(
        loaded & {"offline", "pandas", "matplotlib"}
    )


@pytest.mark.parametrize(
    "module",
    ["foundation.records", "foundation.settings", "foundation.catalogue", "foundation.calendar", "detectors"],
)
def test_public_names_are_exactly_all(module: str) -> None:
    imported = __import__(module, fromlist=["__all__"])
    public = {n for n in vars(imported) if not n.startswith("_")}
    exported = set(imported.__all__)
    assert exported <= public
    # Every public class or function defined here is exported (imports from elsewhere are not).
    defined = {
        name
        for name in public
        if callable(getattr(imported, name))
        and getattr(getattr(imported, name), "__module__", None) == imported.__name__
    }
    assert defined <= exported, f"{module}: public but not in __all__: {sorted(defined - exported)}"
