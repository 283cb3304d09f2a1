"""The Faust application: one app, thin agents, logic in :class:`streams.pipeline.FundingPipeline`.

Every topic carries raw JSON bytes and is validated by our own record schemas, so a poison message
becomes a dead-letter record with a reason instead of an exception inside Faust's deserializer.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import faust
from prometheus_client import CollectorRegistry

from plumbline.settings import Settings
from streams.metrics import PipelineMetrics
from streams.pipeline import FundingPipeline

__all__ = ["Worker", "create_app"]

log = logging.getLogger(__name__)


class Worker:
    """A Faust app wired to a pipeline and its metrics (what ``plumbline worker`` runs)."""

    def __init__(self, app: faust.App, pipeline: FundingPipeline, metrics: PipelineMetrics) -> None:
        self.app = app
        self.pipeline = pipeline
        self.metrics = metrics


def _raw_topic(app: faust.App, name: str, partitions: int) -> Any:
    return app.topic(
        name,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=partitions,
    )


def create_app(settings: Settings, registry: CollectorRegistry | None = None) -> Worker:
    """Build the Faust app for ``settings``; metrics go on ``registry`` (a fresh one by default)."""
    app = faust.App(
        settings.app_id,
        broker=settings.broker_url,
        store="memory://",
        web_enabled=False,
        web_bind=settings.bind_host,
        web_host=settings.bind_host,
        broker_session_timeout=settings.session_timeout_seconds,
        broker_heartbeat_interval=settings.heartbeat_interval_seconds,
        consumer_auto_offset_reset="earliest",
        topic_partitions=settings.topic_partitions,
        topic_allow_declare=False,  # topics are created explicitly by `plumbline stack up`
        datadir=str(settings.state_dir / "faust"),
    )
    pipeline = FundingPipeline(settings)
    metrics = PipelineMetrics(registry if registry is not None else CollectorRegistry(), pipeline)
    prints = _raw_topic(app, settings.topic_prints, settings.topic_partitions)
    signals = _raw_topic(app, settings.topic_signals, settings.topic_partitions)
    alerts = _raw_topic(app, settings.topic_alerts, settings.topic_partitions)
    dead_letter = _raw_topic(app, settings.topic_dead_letter, settings.topic_partitions)

    @app.agent(prints, name="process-prints")
    async def process_prints(stream: Any) -> Any:
        async for event in stream.events():
            metrics.records_in.labels(settings.topic_prints).inc()
            outcome = pipeline.handle_print_bytes(event.value)
            for record in outcome.dead_letters:
                metrics.dead_lettered.labels(record.topic, record.reason).inc()
                await dead_letter.send(key=event.key, value=record.to_json())
            for signal in outcome.signals:
                await signals.send(key=signal.signal_id.encode(), value=signal.to_json())
                metrics.records_out.labels(settings.topic_signals).inc()
            for alert in outcome.alerts:
                log.info(
                    "alert %s %s/%s on %s: value %.1f",
                    alert.state, alert.signal, alert.detector, alert.observation_date, alert.value,
                )  # fmt: skip
                await alerts.send(key=alert.fingerprint.encode(), value=alert.to_json())
                metrics.records_out.labels(settings.topic_alerts).inc()
            timestamp = getattr(event.message, "timestamp", None)
            if timestamp:
                metrics.processing_lag.set(max(0.0, time.time() - float(timestamp)))
            yield outcome

    return Worker(app, pipeline, metrics)
