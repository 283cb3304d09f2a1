"""History, offline: evaluation of detectors, the backtest and its report, Prometheus backfill and the
alert-rules backtest. Built on ``streams`` (the very engines the worker runs, in-process); nothing
here is imported by a worker.
"""
