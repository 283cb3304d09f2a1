"""Pure online detectors on the River API: no Kafka, Faust or Prometheus imports.

:data:`detectors.REGISTRY` (built explicitly in :mod:`detectors.registry`) names every detector;
the defaults chosen from the backtest (docs/detectors.md) are in :mod:`streams.defaults`.
Calendar effects arrive as ``calendar_<effect>`` features of each observation
(:data:`CALENDAR_FEATURE_PREFIX`); detectors never compute a calendar themselves.
"""

from detectors.adwin import Adwin
from detectors.base import CALENDAR_FEATURE_PREFIX, Detector, calendar_effects_of, value_of
from detectors.bocpd import Bocpd
from detectors.calibrated import Calibrated
from detectors.calibration import TailCalibrator
from detectors.cusum import Cusum
from detectors.half_space_trees import HalfSpaceTrees
from detectors.kswin import Kswin
from detectors.page_hinkley import PageHinkley
from detectors.quantile import QuantileExceedance
from detectors.registry import REGISTRY
from detectors.robust_zscore import RobustZScore
from detectors.stress_index import FundingStressIndex
from detectors.suppression import Suppressor
from detectors.threshold import PersistenceThreshold

__all__ = [
    "CALENDAR_FEATURE_PREFIX",
    "REGISTRY",
    "Adwin",
    "Bocpd",
    "Calibrated",
    "Cusum",
    "Detector",
    "FundingStressIndex",
    "HalfSpaceTrees",
    "Kswin",
    "PageHinkley",
    "PersistenceThreshold",
    "QuantileExceedance",
    "RobustZScore",
    "Suppressor",
    "TailCalibrator",
    "calendar_effects_of",
    "value_of",
]
