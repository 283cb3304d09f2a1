"""Every detector by name: the one explicit list that configuration, the CLI and the tests read.

Adding a detector means writing its module and adding its class to the tuple below; nothing is
registered as a side effect of importing a module, so what is in :data:`REGISTRY` is visible here.

>>> REGISTRY["robust_zscore"].__name__
'RobustZScore'
"""

from __future__ import annotations

from detectors.adwin import Adwin
from detectors.base import Detector
from detectors.bocpd import Bocpd
from detectors.calibrated import Calibrated
from detectors.cusum import Cusum
from detectors.half_space_trees import HalfSpaceTrees
from detectors.kswin import Kswin
from detectors.page_hinkley import PageHinkley
from detectors.quantile import QuantileExceedance
from detectors.robust_zscore import RobustZScore
from detectors.stress_index import FundingStressIndex
from detectors.threshold import PersistenceThreshold

__all__ = ["REGISTRY"]

# A name used twice would drop a class here; the conformance suite checks that every exported
# detector class is in REGISTRY, which catches it.
REGISTRY: dict[str, type[Detector]] = {
    cls.name: cls
    for cls in (
        Adwin,
        Bocpd,
        Calibrated,
        Cusum,
        FundingStressIndex,
        HalfSpaceTrees,
        Kswin,
        PageHinkley,
        PersistenceThreshold,
        QuantileExceedance,
        RobustZScore,
    )
}
