"""A replay beside live data: replayed history pages nobody, a live print still pages.

On the whole embedded stack, 2019-07..09 is replayed (its SOFRAboveIORB regime alerts go to the
`replay` receiver). While it runs, a live print arrives: SOFR 30 bp above IORB on a recent date.
Its critical SOFRAboveIORB must reach the paging receiver, labelled replay="false".
"""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from connectors.producer import PrintProducer
from connectors.replay import plan_replay, run_replay
from foundation.records import Print
from foundation.settings import Settings
from plumbline import stack
from plumbline.webhook import iter_alerts
from tests.test_e2e import wait_for

pytestmark = pytest.mark.e2e


def _live(series_id: str, day: dt.date, value: float) -> Print:
    published = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(13, 0), dt.UTC)
    return Print(series_id, day, value, "percent", "nyfed", published, vintage=1, replay=False)


def test_a_live_print_pages_while_history_is_replayed(local_stack: Settings) -> None:
    settings = local_stack
    plan = plan_replay(settings.data_dir, ("SOFR", "IOER", "IORB"), dt.date(2019, 7, 1), dt.date(2019, 9, 30))
    replayed = threading.Event()

    def replay() -> None:
        with PrintProducer(settings) as producer:
            run_replay(producer, plan.prints, speed=10 * 86400.0)  # ten days of history a second
        replayed.set()

    thread = threading.Thread(target=replay, daemon=True)
    thread.start()
    assert wait_for(
        lambda: any(a["receiver"] == "replay" for a in iter_alerts(stack.alerts_file(settings))), 60
    )
    assert not replayed.is_set(), "the live print must arrive while the replay runs"
    with PrintProducer(settings) as producer:
        producer.send_all(
            [_live("IORB", dt.date(2026, 11, 25), 3.65), _live("SOFR", dt.date(2026, 11, 27), 3.95)]
        )

    def live_page() -> list[dict]:  # type: ignore[type-arg]
        return [
            a
            for a in iter_alerts(stack.alerts_file(settings))
            if a["status"] == "firing" and a["labels"].get("replay") == "false"
        ]

    assert wait_for(live_page, 60), "the live print did not page"
    thread.join(timeout=120)
    page = live_page()[0]
    assert (page["labels"]["alertname"], page["labels"]["severity"]) == ("SOFRAboveIORB", "critical")
    assert page["receiver"] == "page"
    replay_alerts = [
        a for a in iter_alerts(stack.alerts_file(settings)) if a["labels"].get("replay") == "true"
    ]
    assert replay_alerts and all(a["receiver"] == "replay" for a in replay_alerts)  # they paged nobody
