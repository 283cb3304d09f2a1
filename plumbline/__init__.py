"""plumbline: streaming anomaly detection for US dollar funding markets.

This package is the top floor, the composition root: the ``plumbline`` command line, its
subcommands, the embedded local stack, the webhook receiver and the demo. What they put together
lives below it, one floor per layer: ``foundation`` (records, settings, catalogue, calendar,
episodes), ``connectors`` and ``detectors`` on it, ``streams`` (the Faust worker) on those, and
``offline`` (evaluation, backtest, report, backfill) above the streams. README.md shows the layout.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
