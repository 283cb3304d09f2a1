"""Pure online detectors on the River API: no Kafka, Faust or Prometheus imports.

Importing the package registers every detector in :data:`detectors.REGISTRY`.
"""

from detectors.base import REGISTRY, Detector, register, value_of
from detectors.threshold import PersistenceThreshold

__all__ = ["REGISTRY", "Detector", "PersistenceThreshold", "register", "value_of"]
