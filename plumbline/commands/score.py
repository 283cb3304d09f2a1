"""``plumbline score``: run one detector over any ``timestamp,value`` CSV, write scores, pages and state.

The output contract (docs/detectors.md, "Scoring any series"): one row per input row, in order,
``timestamp,score,alarm,state``. ``state`` is the detector's alarm state after the row (1 while an
alarm episode lasts); ``alarm`` is 1 only on the row where an episode starts, the row that pages;
``score`` is the detector's own score, higher when more anomalous (NaN for a missing value).

Timestamps may be ISO dates, ISO datetimes (naive = UTC), years, year-months, year-quarters,
integer indexes or POSIX epoch seconds (:data:`TIME_FORMATS`); ``auto`` picks the one format that
reads every row. They must strictly increase. Calendar features (month-end, tax dates...) are handed
to the detectors only when the rows are business days; otherwise the command says once, on stderr,
that they are off.

>>> timeline = read_timeline(["2014Q1", "2014Q2", "2014Q4"])
>>> timeline.time_format, timeline.calendar_off_reason
('year-quarter', 'timestamps are year-quarters, not business days')
>>> [t / 86400 for t in timeline.detector_timestamps]  # steps of one quarter, a missing Q3
[8056.0, 8057.0, 8059.0]
>>> read_timeline(["2019-09-13", "2019-09-16", "2019-09-17"]).calendar_off_reason is None
True
>>> onsets([False, True, True, False, True])
[0, 1, 0, 0, 1]
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime as dt
import inspect
import itertools
import json
import math
import os
import re
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from foundation.calendar import calendar_features, is_business_day
from foundation.settings import Settings

__all__ = [
    "TIME_FORMATS",
    "ScoreInputError",
    "ScoredRow",
    "Timeline",
    "onsets",
    "parse_params",
    "read_csv",
    "read_timeline",
    "register",
    "run",
    "score_rows",
    "score_series",
]

#: Every ``--time-format``. ``auto`` tries the others in this order and keeps the first that reads
#: every row (an ISO date also reads as an ISO datetime, a 4-digit integer as a year before an index,
#: and Python reads ``2014-01`` as a datetime too).
TIME_FORMATS = ("auto", "iso-date", "year-month", "year-quarter", "iso-datetime", "year", "epoch", "index")

#: Calendar effects describe single business days of a daily series: at least this share of the
#: rows must be business days (a stray print on a holiday is tolerated, weekends every week are not)...
_BUSINESS_DAY_SHARE = 0.95
#: ... and the usual spacing must be daily (weekly or monthly dates rarely land on a turn and, when
#: they do, the turn says nothing about a week's average).
_DAILY_MEDIAN_SPACING_SECONDS = 4 * 86400.0
#: Detectors measure gaps in seconds (``max_gap_seconds`` of 10 or 45 days suits daily and weekly
#: prints). Series spaced wider than this are handed to them in steps of their usual spacing, one
#: step counting as one day, so a yearly series is not a string of 365-day gaps that restart every
#: baseline, and a missing year is still a gap of two steps.
_REAL_TIME_MAX_MEDIAN_SPACING_SECONDS = 7 * 86400.0
#: Epoch seconds from 1973-03-03 on; smaller integers are indexes (or years, with four digits).
_EPOCH_MIN_SECONDS = 1e8
_DAY_SECONDS = 86400.0

_YEAR = re.compile(r"^\d{4}$")
_YEAR_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_YEAR_QUARTER = re.compile(r"^(\d{4})[- ]?[Qq]([1-4])$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_KIND_NAMES = {
    "iso-date": "ISO dates",
    "iso-datetime": "ISO datetimes",
    "year-month": "year-months",
    "year-quarter": "year-quarters",
    "year": "years",
    "epoch": "epoch seconds",
    "index": "indexes",
}


class ScoreInputError(ValueError):
    """The input or the options cannot be scored; the message is one line saying what to fix."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "score",
        help="score a timestamp,value CSV with one detector",
        description="Score INPUT.csv (header timestamp,value; any frequency, timestamps strictly "
        "increasing) with one detector; OUTPUT gets timestamp,score,alarm,state, one row per input row "
        "in the same order: alarm is 1 on the row where an alarm episode starts (the page), state is 1 "
        "while it lasts, score is higher when more anomalous.",
    )
    parser.add_argument("input", nargs="?", type=Path, help="CSV with header timestamp,value")
    parser.add_argument("--detector", help="registered detector name (see --list)")
    parser.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE",
        help="hyper-parameter; VALUE is read as JSON when it parses (5, 0.5, null, true), else as text",
    )  # fmt: skip
    parser.add_argument(
        "--time-format", choices=TIME_FORMATS, default="auto",
        help="how to read the timestamp column: iso-date (2019-09-17), iso-datetime (2019-09-17T08:00, "
        "naive = UTC), year-month (2014-01), year-quarter (2014Q1 or 2014-Q1), year (1871), epoch "
        "(POSIX seconds), index (any increasing number); auto (default) picks the one that reads "
        "every row",
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


# --- timestamps ------------------------------------------------------------------------------------


def _iso_datetime_seconds(text: str) -> float | None:
    value = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    try:
        return moment.timestamp()
    except (OverflowError, OSError, ValueError):
        return None


def _position(text: str, kind: str) -> float | None:
    """Where ``text`` sits on the time axis of ``kind`` (its natural unit), or None if it is not one.

    Real-time kinds are in POSIX seconds; years, months and quarters are counted from year 0; an
    index is its own number.
    """
    if kind == "iso-date":
        if not _ISO_DATE.match(text):
            return None
        return _iso_datetime_seconds(text)
    if kind == "iso-datetime":
        # Dates read too (midnight UTC), so a column mixing both reads as datetimes.
        return _iso_datetime_seconds(text) if text[:4].isdigit() and "-" in text else None
    if kind == "year":
        return float(text) if _YEAR.match(text) else None
    if kind == "year-month":
        match = _YEAR_MONTH.match(text)
        if not match or not 1 <= int(match[2]) <= 12:
            return None
        return float(int(match[1]) * 12 + int(match[2]) - 1)
    if kind == "year-quarter":
        match = _YEAR_QUARTER.match(text)
        return float(int(match[1]) * 4 + int(match[2]) - 1) if match else None
    if not _NUMBER.match(text):
        return None
    number = float(text)
    if not math.isfinite(number):
        return None
    if kind == "epoch":
        # Beyond year 9999 a datetime cannot hold it: not epoch seconds (milliseconds, perhaps).
        return number if _EPOCH_MIN_SECONDS <= number < 253402300800.0 else None
    return number  # index


def _describe(text: str) -> str:
    return (
        f"timestamp {text!r} is not an ISO date or datetime, a year (1871), a year-month (2014-01), "
        "a year-quarter (2014Q1), epoch seconds or an index"
    )


@dataclasses.dataclass(frozen=True)
class Timeline:
    """The timestamps of a series, read: what detectors get, and whether the calendar applies."""

    time_format: str
    #: ``x["timestamp"]`` for each row: POSIX seconds, or steps of the usual spacing times 86400.
    detector_timestamps: list[float]
    #: The UTC date of each row when every row is at midnight UTC, else None.
    dates: list[dt.date] | None
    #: Why calendar features are off (one line for stderr), or None when they are on.
    calendar_off_reason: str | None


def _choose_format(texts: Sequence[str], requested: str) -> str:
    if requested != "auto":
        return requested
    kinds = [kind for kind in TIME_FORMATS[1:] if _position(texts[0], kind) is not None]
    if not kinds:
        raise ScoreInputError(f"line 2: {_describe(texts[0])}")
    for kind in kinds:
        # Epoch seconds and indexes read the same digits: auto takes epoch only when all are large.
        if all(_position(text, kind) is not None for text in texts):
            return kind
    kind = kinds[0]
    line, text = next((i, t) for i, t in enumerate(texts, start=2) if _position(t, kind) is None)
    raise ScoreInputError(
        f"line {line}: timestamp {text!r} is not like line 2 ({texts[0]!r}, {_KIND_NAMES[kind]}); "
        "use one format throughout or choose one with --time-format"
    )


def read_timeline(texts: Sequence[str], time_format: str = "auto") -> Timeline:
    """Read every timestamp (stripped text) with one format; raise :class:`ScoreInputError` naming the
    line (CSV line numbers: the header is line 1) of the first one that is unreadable or not strictly
    after the one before."""
    if time_format not in TIME_FORMATS:
        raise ScoreInputError(f"--time-format {time_format!r}: choose one of {', '.join(TIME_FORMATS)}")
    if not texts:
        return Timeline("auto" if time_format == "auto" else time_format, [], None, None)
    kind = _choose_format(texts, time_format)
    positions: list[float] = []
    for line, text in enumerate(texts, start=2):
        position = _position(text, kind)
        if position is None:
            expected = _KIND_NAMES[kind]
            if time_format == "auto":
                raise ScoreInputError(f"line {line}: {_describe(text)}")
            raise ScoreInputError(f"line {line}: timestamp {text!r} is not one of {expected} (--time-format)")
        if positions and position <= positions[-1]:
            what = "repeats" if position == positions[-1] else "comes before"
            raise ScoreInputError(
                f"line {line}: timestamp {text!r} {what} the one on line {line - 1} ({texts[line - 3]!r}); "
                "timestamps must strictly increase (sort the file and drop duplicates)"
            )
        positions.append(position)
    real_time = kind in ("iso-date", "iso-datetime", "epoch")
    if kind in ("year", "year-month", "year-quarter"):
        spacing = 1.0  # one step is one period of the format itself, whatever periods are missing
    elif len(positions) > 1:
        spacing = statistics.median(b - a for a, b in itertools.pairwise(positions))
    else:
        spacing = _DAY_SECONDS if real_time else 1.0
    if real_time and spacing <= _REAL_TIME_MAX_MEDIAN_SPACING_SECONDS:
        detector_timestamps = list(positions)
    else:
        detector_timestamps = [position / spacing * _DAY_SECONDS for position in positions]
    dates = None
    if real_time and all(position % _DAY_SECONDS == 0 for position in positions):
        epoch = dt.date(1970, 1, 1)
        dates = [epoch + dt.timedelta(days=int(position // _DAY_SECONDS)) for position in positions]
    return Timeline(kind, detector_timestamps, dates, _calendar_off_reason(kind, dates, spacing))


def _calendar_off_reason(kind: str, dates: list[dt.date] | None, spacing: float) -> str | None:
    if kind not in ("iso-date", "iso-datetime", "epoch"):
        return f"timestamps are {_KIND_NAMES[kind]}, not business days"
    if dates is None:
        return "timestamps have a time of day, not business-day dates"
    if spacing > _DAILY_MEDIAN_SPACING_SECONDS:
        return f"dates are {spacing / _DAY_SECONDS:g} days apart as a rule, not daily business days"
    off_days = sum(1 for day in dates if not is_business_day(day))
    if off_days > (1.0 - _BUSINESS_DAY_SHARE) * len(dates):
        return f"{off_days} of {len(dates)} dates are weekends or US bond-market holidays, not business days"
    return None


# --- values, rows, scoring -------------------------------------------------------------------------


def _value(text: str | None) -> float:
    if text is None or text.strip().lower() in ("", "nan", "na", "null", "."):
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"value {text!r} is not a number (leave it empty for a missing print)") from None


def read_csv(source: TextIO) -> tuple[list[str], list[float]]:
    """The timestamp texts (stripped) and values of a ``timestamp,value`` CSV; errors name the line."""
    try:
        reader = csv.reader(source)
        header = next(reader, None)
        if header is None or [h.strip().lower().lstrip("\ufeff") for h in header] != ["timestamp", "value"]:
            raise ScoreInputError(f"header must be 'timestamp,value', got {','.join(header or [])!r}")
        texts: list[str] = []
        values: list[float] = []
        for row in reader:
            line = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != 2:
                raise ScoreInputError(f"line {line}: expected 2 fields, got {len(row)}")
            try:
                values.append(_value(row[1]))
            except ValueError as exc:
                raise ScoreInputError(f"line {line}: {exc}") from None
            texts.append(row[0].strip())
    except csv.Error as exc:
        raise ScoreInputError(f"not a readable CSV: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ScoreInputError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return texts, values


def onsets(states: Sequence[bool]) -> list[int]:
    """1 where an alarm episode starts (the state turns on), else 0: the rows that page."""
    return [int(on and not (i and states[i - 1])) for i, on in enumerate(states)]


@dataclasses.dataclass(frozen=True)
class ScoredRow:
    """One output row: the input timestamp text, the score, the page (onset) and the alarm state."""

    timestamp: str
    score: float
    alarm: int
    state: int


def _build_detector(detector_name: str, params: dict[str, Any]) -> Any:
    import detectors

    cls = detectors.REGISTRY.get(detector_name)
    if cls is None:
        raise ScoreInputError(
            f"unknown detector {detector_name!r}; choose one of {', '.join(sorted(detectors.REGISTRY))}"
        )
    try:
        return cls(**params)
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        raise ScoreInputError(f"bad --param for {detector_name}: {exc}") from None


def score_series(
    texts: Sequence[str], values: Sequence[float], detector: Any, time_format: str = "auto"
) -> tuple[list[ScoredRow], Timeline]:
    """Score one series (timestamp texts and values, in file order) with a built detector.

    Each row is scored, then learned, as the worker does; univariate detectors read ``value`` and
    multivariate ones see it as a signal named ``value``.
    """
    timeline = read_timeline(texts, time_format)
    features = [calendar_features(day) for day in timeline.dates] if (
        timeline.dates is not None and timeline.calendar_off_reason is None
    ) else [{} for _ in texts]  # fmt: skip
    scores: list[float] = []
    states: list[bool] = []
    for i, value in enumerate(values):
        x = {"value": value, "timestamp": timeline.detector_timestamps[i], **features[i]}
        try:
            score = float(detector.score_one(x))
            detector.learn_one(x)
        except Exception as exc:  # a detector bug or a parameter it accepted but cannot use
            raise ScoreInputError(
                f"line {i + 2}: detector {detector.name} failed on this row ({type(exc).__name__}: {exc})"
            ) from None
        scores.append(score)
        states.append(bool(detector.alarm))
    rows = [
        ScoredRow(text, score, alarm, int(state))
        for text, score, alarm, state in zip(texts, scores, onsets(states), states, strict=True)
    ]
    return rows, timeline


def score_rows(
    source: TextIO, name: str, detector_name: str, params: dict[str, Any], time_format: str = "auto"
) -> tuple[list[ScoredRow], Timeline]:
    """Score every row of a ``timestamp,value`` CSV; raises :class:`ScoreInputError` on bad input."""
    detector = _build_detector(detector_name, params)
    try:
        texts, values = read_csv(source)
        return score_series(texts, values, detector, time_format)
    except ScoreInputError as exc:
        raise ScoreInputError(f"{name}: {exc}; nothing written") from None


def _list_detectors(stream: TextIO) -> None:
    import detectors

    for name, cls in sorted(detectors.REGISTRY.items()):
        summary = (inspect.getdoc(cls) or "").splitlines()[0]
        kind = "multivariate" if cls.multivariate else "univariate"
        stream.write(f"{name} ({kind}): {summary}\n")
        for param, default in cls().params().items():
            stream.write(f"    {param}={json.dumps(default)}\n")


def _write(rows: list[ScoredRow], target: TextIO) -> None:
    writer = csv.writer(target, lineterminator="\n")
    writer.writerow(["timestamp", "score", "alarm", "state"])
    for row in rows:
        score = repr(row.score) if math.isfinite(row.score) else str(row.score)
        writer.writerow([row.timestamp, score, row.alarm, row.state])


def _write_file(rows: list[ScoredRow], output: str) -> None:
    """Write next to ``output`` and rename over it: a failure never leaves a partial file behind."""
    folder = os.path.dirname(os.path.abspath(output))
    handle, temporary = tempfile.mkstemp(prefix=".plumbline-score-", suffix=".csv", dir=folder)
    try:
        with os.fdopen(handle, "w", newline="") as target:
            _write(rows, target)
        os.replace(temporary, output)
    except BaseException:
        os.unlink(temporary)
        raise


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
        with open(args.input, newline="", encoding="utf-8-sig") as source:
            rows, timeline = score_rows(
                source, str(args.input), args.detector, params, getattr(args, "time_format", "auto")
            )
    except OSError as exc:
        print(
            f"plumbline score: cannot read {args.input}: {exc.strerror or exc}; nothing written",
            file=sys.stderr,
        )
        return 2
    except ScoreInputError as exc:
        print(f"plumbline score: {exc}", file=sys.stderr)
        return 2
    if args.output == "-":
        _write(rows, sys.stdout)
    else:
        try:
            _write_file(rows, args.output)
        except OSError as exc:
            print(
                f"plumbline score: cannot write {args.output}: {exc.strerror or exc}; nothing written",
                file=sys.stderr,
            )
            return 2
    if timeline.calendar_off_reason is not None and rows:
        # Once, after the rows are safely written, so a failed run still says exactly one line.
        print(f"plumbline score: calendar effects off: {timeline.calendar_off_reason}", file=sys.stderr)
    return 0
