"""The backtest report: one static HTML page with PNG plots beside it, the episode table, the alerts.

Plots (matplotlib, Agg backend, no display needed): SOFR with the rate on reserves and the FOMC
target-range band; the spreads to the rate on reserves; reserves, ON RRP and the TGA; every
detector's score with its alarm periods shaded. The stress episodes (``foundation/episodes.py``)
are shaded on every plot.
The page has no script and no external resource, so it opens offline from the file system.
"""

from __future__ import annotations

import datetime as dt
import html
import itertools
from collections.abc import Iterable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from foundation.episodes import CALM_STRETCH, EPISODES
from offline.backtest import BacktestResult, write_alerts
from offline.evaluation import DETECTION_LEAD_BUSINESS_DAYS, episode_table, markdown_table

__all__ = ["episode_table_markdown", "write_report"]

_EPISODE_COLOUR = "#f4a259"
_ALARM_COLOUR = "#d1495b"
_DPI = 100


def _series(result: BacktestResult, series_id: str) -> tuple[list[dt.date], list[float]]:
    points = sorted(
        (p.observation_date, p.value)
        for p in result.plan.prints
        if p.series_id == series_id and result.start <= p.observation_date <= result.end
    )
    return [d for d, _ in points], [v for _, v in points]


def _signal(result: BacktestResult, signal_id: str) -> tuple[list[dt.date], list[float]]:
    series = result.signals.get(signal_id)
    if series is None:
        return [], []
    return [s.date() for s in series.values.index], [float(v) for v in series.values]


def _mark_episodes(ax: Axes, result: BacktestResult, label: bool = False) -> None:
    for episode in EPISODES:
        if not result.episode_in_window(episode.id):
            continue
        first, last = max(episode.start, result.start), min(episode.end, result.end)
        ax.axvspan(first, last + dt.timedelta(days=1), color=_EPISODE_COLOUR, alpha=0.25, lw=0)  # type: ignore[arg-type]
        if label:
            ax.annotate(episode.id, (first, 1.0), xycoords=("data", "axes fraction"),  # type: ignore[arg-type]
                        fontsize=7, va="bottom", rotation=0, color="#8a4b0f")  # fmt: skip


def _runs(alarms: dict[dt.date, bool]) -> Iterable[tuple[dt.date, dt.date]]:
    days = sorted(alarms)
    for on, group in itertools.groupby(zip(days, [*days[1:], None], strict=True), key=lambda p: alarms[p[0]]):
        if on:
            members = list(group)
            last_next = members[-1][1]
            yield members[0][0], (last_next or members[-1][0] + dt.timedelta(days=1))


def _save(fig: plt.Figure, path: Path) -> str:  # type: ignore[name-defined]
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)
    return path.name


def _plot_rates(result: BacktestResult, directory: Path) -> str:
    fig, ax = plt.subplots(figsize=(12, 4))
    low_days, low = _series(result, "DFEDTARL")
    high_days, high = _series(result, "DFEDTARU")
    if low_days and low_days == high_days:
        ax.fill_between(low_days, low, high, step="post", color="#9ecae1", alpha=0.5, label="target range")  # type: ignore[arg-type]
    for series_id, style in (("IOER", "--"), ("IORB", "-")):
        days, values = _series(result, series_id)
        if series_id == "IOER":
            days_values = [(d, v) for d, v in zip(days, values, strict=True) if d < dt.date(2021, 7, 29)]
        else:
            days_values = [(d, v) for d, v in zip(days, values, strict=True) if d >= dt.date(2021, 7, 29)]
        if days_values:
            ax.step([d for d, _ in days_values], [v for _, v in days_values], style, where="post",  # type: ignore[arg-type]
                    color="#08519c", lw=1.2, label=series_id)  # fmt: skip
    days, values = _series(result, "SOFR")
    ax.plot(days, values, color="#a50f15", lw=0.9, label="SOFR")  # type: ignore[arg-type]
    _mark_episodes(ax, result, label=True)
    ax.set_ylabel("percent")
    ax.set_title("SOFR, the rate on reserves (IOER, IORB from 2021-07-29) and the FOMC target range")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, directory / "rates.png")


def _plot_spreads(result: BacktestResult, directory: Path) -> str:
    fig, ax = plt.subplots(figsize=(12, 4))
    for signal_id in ("sofr_iorb_spread_bp", "sofr99_iorb_spread_bp", "effr_iorb_spread_bp",
                      "tgcr_iorb_spread_bp", "bgcr_iorb_spread_bp"):  # fmt: skip
        days, values = _signal(result, signal_id)
        if days:
            ax.plot(days, values, lw=0.8, label=signal_id)  # type: ignore[arg-type]
    ax.axhline(0.0, color="black", lw=0.6)
    _mark_episodes(ax, result, label=True)
    ax.set_ylabel("bp")
    ax.set_yscale("symlog", linthresh=20)
    ax.set_title("Spreads to the rate on reserves (symmetric log scale above ±20 bp)")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, directory / "spreads.png")


def _plot_balances(result: BacktestResult, directory: Path) -> str:
    fig, ax = plt.subplots(figsize=(12, 4))
    lines = (("reserves_usd_bn", "reserves (WRESBAL)"), ("onrrp_usd_bn", "ON RRP"),
             ("tga_usd_bn", "TGA (WDTGAL)"), ("srf_usage_usd_bn", "repo operations / SRF"))  # fmt: skip
    for signal_id, label in lines:
        days, values = _signal(result, signal_id)
        if days:
            ax.plot(days, values, lw=0.9, label=label)  # type: ignore[arg-type]
    _mark_episodes(ax, result, label=True)
    ax.set_ylabel("USD bn")
    ax.set_title("Reserves, the ON RRP buffer and the Treasury General Account")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, directory / "balances.png")


def _plot_detectors(result: BacktestResult, directory: Path) -> str:
    keys = [(s.signal, s.name) for specs in result.detectors.values() for s in specs]
    fig, axes = plt.subplots(len(keys), 1, figsize=(12, 1.5 * len(keys) + 0.5), sharex=True, squeeze=False)
    for ax, key in zip(axes[:, 0], keys, strict=True):
        scores = result.scores.get(key, {})
        days = sorted(scores)
        ax.plot(days, [scores[d] for d in days], lw=0.7, color="#333333")  # type: ignore[arg-type]
        for first, last in _runs(result.alarms.get(key, {})):
            ax.axvspan(first, last, color=_ALARM_COLOUR, alpha=0.35, lw=0)  # type: ignore[arg-type]
        _mark_episodes(ax, result)
        ax.set_ylabel("score", fontsize=7)
        ax.set_title(f"{key[0]} / {key[1]}", fontsize=8, loc="left")
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.set_xlim(result.start, result.end)  # type: ignore[arg-type]
    fig.suptitle("Detector scores; red: alarm on; orange: episodes of stress", fontsize=10)
    return _save(fig, directory / "detectors.png")


def _table(result: BacktestResult) -> tuple[list[str], list[list[str]]]:
    return episode_table(result.rows, parameters=False, window=(result.start, result.end))


def episode_table_markdown(result: BacktestResult) -> str:
    """The episode table as markdown (the same rows and cells as the HTML page)."""
    return markdown_table(*_table(result))


def _figure(name: str, alt: str) -> str:
    alt = html.escape(alt)
    return f'<figure><img src="{name}" alt="{alt}"><figcaption>{alt}</figcaption></figure>'


def _html_table(header: list[str], body: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>" for cells in body
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; max-width: 1300px; color: #222; }
table { border-collapse: collapse; font-size: 12px; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: left; }
th { background: #f0f0f0; }
img { max-width: 100%; border: 1px solid #ddd; margin: 0.5em 0; }
.note { color: #7a3e00; }
"""


def write_report(result: BacktestResult, directory: Path) -> Path:
    """Write index.html, the plots, episode_table.md, alerts.csv and alerts.json; return index.html."""
    directory.mkdir(parents=True, exist_ok=True)
    plots = [
        (_plot_rates(result, directory), "SOFR, IORB and the target range"),
        (_plot_spreads(result, directory), "spreads to the rate on reserves"),
        (_plot_balances(result, directory), "reserves, reverse repo and TGA"),
        (_plot_detectors(result, directory), "detector scores and alarms"),
    ]
    write_alerts(result.alerts, directory)
    (directory / "episode_table.md").write_text(episode_table_markdown(result))
    header, body = _table(result)
    sources = ", ".join(f"{s}: {src}" for s, src in sorted(result.plan.sources.items()))
    alert_rows = [
        [a.observation_date.isoformat(), a.signal, a.detector, a.state, a.severity, f"{a.value:g}"]
        for a in result.alerts
    ]
    notes = "".join(f"<li class='note'>{html.escape(n)}</li>" for n in result.notes) or "<li>none</li>"
    episodes = "".join(
        f"<li><b>{e.id}</b>: {e.start} .. {e.end}, {html.escape(e.description)}</li>" for e in EPISODES
    )
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>plumbline backtest {result.start} .. {result.end}</title>
<link rel="icon" href="data:,"><style>{_STYLE}</style></head><body>
<h1>plumbline backtest {result.start} .. {result.end}</h1>
<p>{len(result.plan.prints)} prints in publication order through the in-process engine (the worker's
signals and detectors, no look-ahead) in {result.seconds:.1f} s: {len(result.run.signals)} signal values,
{len(result.alerts)} alerts (<a href="alerts.csv">alerts.csv</a>, <a href="alerts.json">alerts.json</a>).
Sources per series: {html.escape(sources)}.</p>
<h2>What the data cannot show</h2><ul>{notes}</ul>
<h2>Episodes</h2><ul>{episodes}</ul>
<p>An episode is detected when an alarm is on at any business day from {DETECTION_LEAD_BUSINESS_DAYS}
business days before its start to its end; the number is business days from the start to the first
such day (negative = lead). False alarms: alarm onsets per year in the calm stretch {CALM_STRETCH[0]} ..
{CALM_STRETCH[1]} (n/a when the window does not span it). Baselines: never, always, and the plain rule
SOFR &gt; IORB.</p>
{_html_table(header, body)}
<h2>Plots</h2>
{"".join(_figure(name, alt) for name, alt in plots)}
<h2>Alerts</h2>
{_html_table(["observation date", "signal", "detector", "state", "severity", "value"], alert_rows)}
</body></html>
"""
    index = directory / "index.html"
    index.write_text(page)
    return index
