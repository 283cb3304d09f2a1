"""Detectors: every detector's score and alarm, the funding-stress index and what drives it."""

from __future__ import annotations

from ..dashboards import Annotation, Dashboard, Panel, Query, Row

DASHBOARD = Dashboard(
    uid="plumbline-detectors",
    title="plumbline / Detectors",
    description="Every detector's score and alarm, the funding-stress index and what drives it.",
    rows=(
        Row(
            title="Scores",
            panels=(
                Panel(
                    title="Detector scores",
                    queries=(Query(expr="plumbline_detector_score", legend="{{signal}} / {{detector}}"),),
                    description="Scales differ per detector (docs/detectors.md).",
                    width=24,
                    height=10,
                ),
                Panel(
                    title="Alarms",
                    queries=(Query(expr="plumbline_detector_alarm", legend="{{signal}} / {{detector}}"),),
                    kind="state-timeline",
                    width=24,
                    height=12,
                ),
            ),
        ),
        Row(
            title="Funding-stress index",
            panels=(
                Panel(
                    title="Funding-stress index",
                    queries=(
                        Query(
                            expr='max(plumbline_signal_index{signal="funding_stress_index"})',
                            legend="index (alarm at 3)",
                        ),
                    ),
                    description="Runbook FundingStressIndexHigh.",
                ),
                Panel(
                    title="Contributions to the index",
                    queries=(Query(expr="plumbline_stress_index_contribution", legend="{{signal}}"),),
                    stack=True,
                ),
                Panel(
                    title="Current alarm episodes",
                    queries=(
                        Query(
                            expr="plumbline_detector_alarm_start_timestamp_seconds * 1000",
                            legend="{{signal}} / {{detector}}",
                        ),
                    ),
                    kind="table",
                    unit="dateTimeAsIso",
                    width=24,
                ),
            ),
        ),
    ),
    annotations=(
        Annotation(
            name="detector alarms",
            query=Query(expr="plumbline_detector_alarm == 1", legend="{{signal}} / {{detector}}"),
        ),
    ),
)
