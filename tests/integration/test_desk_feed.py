"""The engine's live feed during a real call through Asterisk: the desk's pop arrives while
the agent's phone rings (before the answer), with what the call knows, the caller-ID name as
sent (escaping is the page's job), and every state change of the agent."""
from __future__ import annotations

import time

import pytest

from hotline_lab.feed_reader import FeedReader
from hotline_lab.sipp import AwaitHangup, Pause, Press

pytestmark = pytest.mark.asterisk
HOSTILE = "<script>alert(1)</script>"


def test_the_pop_reaches_the_desk_feed_while_the_phone_rings(engine):
    feed = FeedReader(engine.settings.path(engine.settings.control.socket))
    feed.start()
    try:
        time.sleep(0.5)
        assert feed.topics("agents/"), "a subscriber starts from every agent's state"
        engine.start_phones(answer_after=1.5, talk_seconds=1.0)
        call = engine.call("0611000041", [Pause(1.5), Press("1"), AwaitHangup(60)], name=HOSTILE)
        assert call.wait(90) == 0
        rec = engine.call_record("0611000041")
        time.sleep(0.5)
        agent = rec["agent"]
        offers = feed.topics(f"offers/{agent}")
        answered = feed.topics(f"calls/{rec['call_id']}/answered")
        assert offers and answered
        offered_at, pop = offers[-1]
        assert pop["call_id"] == rec["call_id"] and pop["caller_name"] == HOSTILE
        assert pop["queue"] == "orders" and pop["caller"] == "0611000041"
        assert [step["node"] for step in pop["path"]][:1] == ["main"]
        ring_to_answer = answered[-1][0] - offered_at
        assert ring_to_answer > 1.0, f"the pop came {ring_to_answer:.2f} s before the answer"
        states = [p["state"] for _, p in feed.topics(f"agents/{agent}")]
        assert {"offered", "on-call"} <= set(states) and states[-1] in ("wrap-up", "ready")
    finally:
        feed.stop.set()
        feed.join(2)
