"""``plumbline dashboards``: (re)generate the Grafana dashboards from deploy/grafana/boards/."""

from __future__ import annotations

import argparse
import importlib
import importlib.machinery
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from foundation.settings import Settings

__all__ = ["DEFAULT_OUT", "load_generator", "register", "run"]

_GRAFANA = Path(__file__).resolve().parents[2] / "deploy" / "grafana"
_PACKAGE = "plumbline_grafana"  # the name deploy/grafana is mounted under
DEFAULT_OUT = _GRAFANA / "dashboards"


def load_generator() -> ModuleType:
    """deploy/grafana/dashboards.py of this checkout, whose ``dashboards()`` loads every board file.

    deploy/ is not an installed package: deploy/grafana is mounted by path as the package
    ``plumbline_grafana`` (so that the boards can ``from ..dashboards import ...``).
    """
    generator = _GRAFANA / "dashboards.py"
    if not generator.is_file():
        raise FileNotFoundError(f"{generator} not found: run plumbline from a source checkout")
    spec = importlib.machinery.ModuleSpec(_PACKAGE, None, is_package=True)
    spec.submodule_search_locations = [str(_GRAFANA)]
    for name in [n for n in sys.modules if n == _PACKAGE or n.startswith(f"{_PACKAGE}.")]:
        del sys.modules[name]  # a fresh load reads the files as they are now
    sys.modules[_PACKAGE] = importlib.util.module_from_spec(spec)
    return importlib.import_module(f"{_PACKAGE}.dashboards")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "dashboards",
        help="write the Grafana dashboards (JSON) generated from deploy/grafana/boards/",
        description="Generate every plumbline Grafana dashboard from code into a folder that Grafana's "
        "file provisioning reads (deploy/grafana/provisioning/dashboards/plumbline.yml).",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder ({DEFAULT_OUT})")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if a file differs from the code"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    generator = load_generator()
    if args.check:
        stale = [
            d.filename
            for d in generator.dashboards()
            if not (args.out / d.filename).is_file()
            or (args.out / d.filename).read_text() != generator.render(d)
        ]
        for name in stale:
            print(f"{args.out / name} is out of date: run `plumbline dashboards`", file=sys.stderr)
        return 1 if stale else 0
    for path in generator.write_all(args.out):
        print(f"wrote {path}")
    return 0
