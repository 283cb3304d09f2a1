"""The ground floor: what every part of plumbline shares, importing nothing of the project.

- :mod:`foundation.records`: the typed records on the topics (``Print``, ``Signal``, ``Alert``,
  ``DeadLetter``), JSON with a schema version.
- :mod:`foundation.settings`: the one settings object.
- :mod:`foundation.catalogue`: every series and every signal (inputs, unit, direction of stress).
- :mod:`foundation.calendar`: the US bond-market calendar and its funding-market effects.
- :mod:`foundation.episodes`: the stress episodes and the calm stretch that backtests score against.
"""
