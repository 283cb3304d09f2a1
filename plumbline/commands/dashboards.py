"""``plumbline dashboards``: (re)generate the Grafana dashboards from deploy/grafana/dashboards.py."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from foundation.settings import Settings

__all__ = ["DEFAULT_OUT", "load_generator", "register", "run"]

_GENERATOR = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "dashboards.py"
DEFAULT_OUT = _GENERATOR.parent / "dashboards"


def load_generator() -> ModuleType:
    """The dashboards-as-code module of this checkout (deploy/ is not an installed package)."""
    if not _GENERATOR.is_file():
        raise FileNotFoundError(f"{_GENERATOR} not found: run plumbline from a source checkout")
    spec = importlib.util.spec_from_file_location("plumbline_grafana_dashboards", _GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "dashboards",
        help="write the Grafana dashboards (JSON) generated from deploy/grafana/dashboards.py",
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
            for d in generator.DASHBOARDS
            if not (args.out / d.filename).is_file()
            or (args.out / d.filename).read_text() != generator.render(d)
        ]
        for name in stale:
            print(f"{args.out / name} is out of date: run `plumbline dashboards`", file=sys.stderr)
        return 1 if stale else 0
    for path in generator.write_all(args.out):
        print(f"wrote {path}")
    return 0
