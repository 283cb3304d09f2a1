"""plumbline: streaming anomaly detection for US dollar funding markets.

This small package holds what every part shares: the command line, settings, record schemas and
the series catalogue. The pipeline itself lives in the top-level ``connectors``, ``streams`` and
``detectors`` packages.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
