"""The funding-stress episodes a good detector must see, and the calm stretch where it must not page.

From ``../shared/DOMAIN.md``. Every backtest (detector evaluation, ``plumbline backtest``, the alert
rules' backtest) scores against these, so they are written once, here.

>>> [episode.id for episode in EPISODES]
['repo_spike_2019', 'dash_for_cash_2020', 'tga_rebuild_2023', 'q4_2025']
>>> CALM_STRETCH
(datetime.date(2021, 1, 4), datetime.date(2023, 5, 31))
"""

from __future__ import annotations

import dataclasses
import datetime as dt

__all__ = ["CALM_STRETCH", "EPISODES", "Episode"]


@dataclasses.dataclass(frozen=True)
class Episode:
    """A stretch of funding stress a good detector must see."""

    id: str
    start: dt.date
    end: dt.date
    description: str


EPISODES = (
    Episode("repo_spike_2019", dt.date(2019, 9, 16), dt.date(2019, 9, 18), "repo spike, Fed repo restarts"),
    Episode("dash_for_cash_2020", dt.date(2020, 3, 2), dt.date(2020, 3, 31), "dash for cash, QE restarts"),
    Episode("tga_rebuild_2023", dt.date(2023, 6, 1), dt.date(2023, 9, 29), "TGA rebuild, debt ceiling"),
    Episode("q4_2025", dt.date(2025, 9, 2), dt.date(2025, 12, 31), "SOFR above IORB, record SRF use"),
)  # fmt: skip

#: The reserve glut: ON RRP above $2tn, SOFR below IORB; every alarm here is a false alarm.
CALM_STRETCH = (dt.date(2021, 1, 4), dt.date(2023, 5, 31))
