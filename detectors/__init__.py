"""Pure online detectors on the River API: no Kafka, Faust or Prometheus imports.

Importing the package registers every detector in :data:`detectors.REGISTRY`; the defaults chosen
from the backtest (docs/detectors.md) are in :mod:`detectors.defaults`.
"""

from detectors.adwin import Adwin
from detectors.base import REGISTRY, Detector, register, value_of
from detectors.bocpd import Bocpd
from detectors.calibrated import Calibrated
from detectors.calibration import TailCalibrator
from detectors.cusum import Cusum
from detectors.half_space_trees import HalfSpaceTrees
from detectors.kswin import Kswin
from detectors.page_hinkley import PageHinkley
from detectors.quantile import QuantileExceedance
from detectors.robust_zscore import RobustZScore
from detectors.stress_index import FundingStressIndex
from detectors.suppression import Suppressor
from detectors.threshold import PersistenceThreshold

__all__ = [
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
    "register",
    "value_of",
]
