"""Dependencies point one way, checked in a fresh interpreter per package."""

from __future__ import annotations

import subprocess
import sys

import pytest

CHECK = """
import importlib, pkgutil, sys
package = importlib.import_module({package!r})
for info in pkgutil.walk_packages(package.__path__, {package!r} + "."):
    importlib.import_module(info.name)
loaded = sorted({{name.split(".")[0] for name in sys.modules}})
print(" ".join(loaded))
"""


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        (
            "detectors",
            {"kafka", "faust", "aiokafka", "prometheus_client", "plumbline", "connectors", "streams"},
        ),
        ("connectors", {"detectors", "streams", "faust"}),
    ],
)
def test_package_imports_none_of_the_forbidden(package: str, forbidden: set[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHECK.format(package=package)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    loaded = set(result.stdout.split())
    assert package in loaded
    assert not loaded & forbidden, f"{package} pulls in {sorted(loaded & forbidden)}"


@pytest.mark.parametrize(
    "module", ["foundation.records", "foundation.settings", "foundation.catalogue", "detectors"]
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
