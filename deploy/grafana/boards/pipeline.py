"""Pipeline health: workers, throughput, dead letters, lag and data freshness."""

from __future__ import annotations

from ..dashboards import Dashboard, Panel, Query, Row

DASHBOARD = Dashboard(
    uid="plumbline-pipeline",
    title="plumbline / Pipeline health",
    description="Workers, throughput, dead letters, lag and data freshness.",
    time_from="now-24h",
    rows=(
        Row(
            title="Workers",
            panels=(
                Panel(
                    title="Workers up",
                    queries=(Query(expr='up{job="plumbline-worker"}', legend="{{instance}}"),),
                    kind="state-timeline",
                    description="Runbook PlumblineWorkerDown.",
                ),
                Panel(
                    title="Worker starts",
                    queries=(Query(expr="plumbline_worker_starts_total", legend="{{instance}}"),),
                    kind="stat",
                ),
                Panel(
                    title="Messages in and out",
                    queries=(
                        Query(
                            expr="sum by (topic) (rate(plumbline_records_in_total[$__rate_interval]))",
                            legend="in {{topic}}",
                        ),
                        Query(
                            expr="sum by (topic) (rate(plumbline_records_out_total[$__rate_interval]))",
                            legend="out {{topic}}",
                        ),
                    ),
                    unit="mps",
                ),
                Panel(
                    title="Dead-lettered messages",
                    queries=(
                        Query(
                            expr="sum by (topic, reason) "
                            "(increase(plumbline_dead_letter_total[$__rate_interval])) or on() vector(0)",
                            legend="{{topic}} {{reason}}",
                        ),
                    ),
                    kind="bars",
                    description="Runbook PlumblineDeadLetters.",
                ),
                Panel(
                    title="Processing lag",
                    queries=(Query(expr="plumbline_processing_lag_seconds", legend="{{instance}}"),),
                    unit="s",
                    description="Broker timestamp to the end of processing "
                    "(runbook PlumblineProcessingLagHigh).",
                ),
                Panel(
                    title="Late signal values",
                    queries=(
                        Query(
                            expr="sum by (signal) (plumbline_late_signals_total) or on() vector(0)",
                            legend="{{signal}}",
                        ),
                    ),
                ),
            ),
        ),
        Row(
            title="Freshness",
            panels=(
                Panel(
                    title="Observation date of each series",
                    queries=(
                        Query(
                            expr="plumbline_series_observation_timestamp_seconds * 1000", legend="{{series}}"
                        ),
                    ),
                    kind="table",
                    unit="dateTimeAsIso",
                ),
                Panel(
                    title="Series late past their publication window",
                    queries=(
                        Query(
                            expr="plumbline:series_observation_delay:seconds",
                            legend="{{series}}",
                            no_data_reason="the expected observation date is exported only for series "
                            "fed live, never by a replay",
                        ),
                    ),
                    unit="s",
                    description="Above zero: the source should have published a newer print "
                    "(runbook PlumblineSeriesStale).",
                ),
                Panel(
                    title="Alerts firing",
                    queries=(
                        Query(
                            expr="count by (alertname, severity) "
                            '(ALERTS{alertstate="firing"}) or on() vector(0)',
                            legend="{{alertname}} {{severity}}",
                        ),
                    ),
                    kind="stat",
                    width=24,
                    height=5,
                ),
            ),
        ),
    ),
)
