"""``plumbline dashboards``: (re)generate the monitoring files from code and ``deploy/config.json``.

The Grafana dashboards (``deploy/grafana/boards/`` -> ``deploy/grafana/dashboards/*.json``) and the
prometheus-operator manifests (``deploy/prometheus/rules/`` -> ``deploy/k8s/operator/*.yaml``):
:mod:`plumbline.monitoring`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from foundation.settings import Settings
from plumbline.monitoring import OPERATOR_DIR, load_generator, load_operator_config, operator_files

__all__ = ["DEFAULT_OUT", "load_generator", "register", "run"]

DEFAULT_OUT = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "dashboards"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "dashboards",
        help="write the Grafana dashboards and the prometheus-operator manifests generated from code",
        description="Generate every plumbline Grafana dashboard from deploy/grafana/boards/ into a folder "
        "that Grafana's file provisioning reads (deploy/grafana/provisioning/dashboards/plumbline.yml), and "
        "the PrometheusRule and ServiceMonitor manifests from deploy/prometheus/rules/ into "
        f"{OPERATOR_DIR}, both for the monitoring config deploy/config.json (or --config).",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"dashboards folder ({DEFAULT_OUT})")
    parser.add_argument(
        "--operator-out", type=Path, default=OPERATOR_DIR, help=f"operator manifests folder ({OPERATOR_DIR})"
    )
    parser.add_argument(
        "--config", type=Path, default=None, help="monitoring config (JSON; default deploy/config.json)"
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if a file differs from the code"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    generator = load_generator()
    try:
        config = generator.load_config(args.config) if args.config else generator.load_config()
        operator_config = load_operator_config(args.config)
        manifests = operator_files(operator_config, args.operator_out)
    except (OSError, ValueError, json.JSONDecodeError) as exc:
        print(f"plumbline dashboards: {exc}", file=sys.stderr)
        return 2
    if args.check:
        stale = [
            args.out / d.filename
            for d in generator.dashboards()
            if not (args.out / d.filename).is_file()
            or (args.out / d.filename).read_text() != generator.render(d, config)
        ]
        stale += [m.path for m in manifests if not m.is_current()]
        for path in stale:
            print(f"{path} is out of date: run `plumbline dashboards`", file=sys.stderr)
        return 1 if stale else 0
    for path in generator.write_all(args.out, config):
        print(f"wrote {path}")
    for manifest in manifests:
        manifest.write()
        print(f"wrote {manifest.path}")
    return 0
