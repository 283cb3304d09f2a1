"""``plumbline score``: run one detector over any ``timestamp,value`` CSV, write scores and alarms."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import inspect
import json
import math
import sys
from pathlib import Path
from typing import Any, TextIO

from foundation.calendar import calendar_features, date_of_timestamp
from foundation.settings import Settings

__all__ = ["ScoreInputError", "parse_params", "register", "run", "score_rows"]


class ScoreInputError(ValueError):
    """The input or the options cannot be scored; the message is one line saying what to fix."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "score",
        help="score a timestamp,value CSV with one detector",
        description="Score INPUT.csv (header timestamp,value; dates or datetimes, any frequency) with "
        "one detector; OUTPUT gets timestamp,score,alarm, one row per input row in the same order.",
    )
    parser.add_argument("input", nargs="?", type=Path, help="CSV with header timestamp,value")
    parser.add_argument("--detector", help="registered detector name (see --list)")
    parser.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE",
        help="hyper-parameter; VALUE is read as JSON when it parses (5, 0.5, null, true), else as text",
    )  # fmt: skip
    parser.add_argument("--output", help="output CSV path, or - for standard output")
    parser.add_argument("--list", action="store_true", help="list detectors and their parameters")
    parser.set_defaults(func=run)


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """``["k=3", "side=up"]`` -> ``{"k": 3, "side": "up"}``."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ScoreInputError(f"--param {pair!r}: expected KEY=VALUE")
        try:
            params[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            params[key.strip()] = raw
    return params


def _timestamp(text: str) -> float:
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"timestamp {text!r} is not an ISO date or datetime") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def _value(text: str | None) -> float:
    if text is None or text.strip().lower() in ("", "nan", "na", "null", "."):
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"value {text!r} is not a number (leave it empty for a missing print)") from None


def score_rows(
    source: TextIO, name: str, detector_name: str, params: dict[str, Any]
) -> list[tuple[str, float, int]]:
    """Score every row of a ``timestamp,value`` CSV; raises :class:`ScoreInputError` on bad input."""
    import detectors

    cls = detectors.REGISTRY.get(detector_name)
    if cls is None:
        raise ScoreInputError(
            f"unknown detector {detector_name!r}; choose one of {', '.join(sorted(detectors.REGISTRY))}"
        )
    try:
        detector = cls(**params)
    except (TypeError, ValueError) as exc:
        raise ScoreInputError(f"bad --param for {detector_name}: {exc}") from None
    reader = csv.reader(source)
    header = next(reader, None)
    if header is None or [h.strip().lower() for h in header] != ["timestamp", "value"]:
        raise ScoreInputError(f"{name}: header must be 'timestamp,value', got {','.join(header or [])!r}")
    out = []
    for line, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != 2:
            raise ScoreInputError(f"{name} line {line}: expected 2 fields, got {len(row)}; nothing written")
        try:
            timestamp = _timestamp(row[0])
            x = {"timestamp": timestamp, "value": _value(row[1])}
        except ValueError as exc:
            raise ScoreInputError(f"{name} line {line}: {exc}; nothing written") from None
        # Calendar effects reach detectors as features (foundation/calendar.py), as in the worker.
        x |= calendar_features(date_of_timestamp(timestamp))
        score = detector.score_one(x)
        detector.learn_one(x)
        out.append((row[0], score, int(detector.alarm)))
    return out


def _list_detectors(stream: TextIO) -> None:
    import detectors

    for name, cls in sorted(detectors.REGISTRY.items()):
        summary = (inspect.getdoc(cls) or "").splitlines()[0]
        kind = "multivariate" if cls.multivariate else "univariate"
        stream.write(f"{name} ({kind}): {summary}\n")
        for param, default in cls().params().items():
            stream.write(f"    {param}={json.dumps(default)}\n")


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.list:
        _list_detectors(sys.stdout)
        return 0
    if args.input is None or not args.detector or not args.output:
        print(
            "plumbline score: need INPUT.csv, --detector NAME and --output OUT.csv (or --list)",
            file=sys.stderr,
        )
        return 2
    try:
        params = parse_params(args.param)
        with open(args.input, newline="") as source:
            rows = score_rows(source, str(args.input), args.detector, params)
    except OSError as exc:
        print(f"plumbline score: cannot read {args.input}: {exc.strerror}", file=sys.stderr)
        return 2
    except ScoreInputError as exc:
        print(f"plumbline score: {exc}", file=sys.stderr)
        return 2
    target = sys.stdout if args.output == "-" else open(args.output, "w", newline="")  # noqa: SIM115
    try:
        writer = csv.writer(target, lineterminator="\n")
        writer.writerow(["timestamp", "score", "alarm"])
        for timestamp, score, alarm in rows:
            writer.writerow([timestamp, repr(score) if math.isfinite(score) else str(score), alarm])
    finally:
        if target is not sys.stdout:
            target.close()
    return 0
