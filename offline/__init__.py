"""History, offline: evaluation of detectors, the backtest and its report, Prometheus backfill, the
alert-rules backtest, and the documents generated from them (``plumbline generate``). Built on
``streams`` (the very engines the worker runs, in-process); nothing here is imported by a worker.
"""
