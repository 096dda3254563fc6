"""Reports against figures computed by hand from tests/crm/crm_calls.py.

Ten calls: 2 self-service (c8, c9); 8 queued, of which c3 is a short abandon
(wait 3 s < 5 s), so 7 offered. Answered: c1 (wait 10), c2 (30), c5 (5), c10 (25);
within 20 s: c1, c5. Abandoned c4 (45 s), callback c6, overflow c7."""
from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "crm"))
from crm_calls import AGENT_EVENTS, CALLS, at  # noqa: E402

from ivr.crm.records import CallEvent  # noqa: E402
from ivr.crm.render import report_csv, to_json  # noqa: E402
from ivr.crm.render_html import report_html  # noqa: E402
from ivr.crm.reports import (adverse_stats, build_report, export_queue_log, grouped, occupancy,  # noqa: E402
                             queue_stats, speech_stats, wait_histogram)


def test_totals_by_hand() -> None:
    s = queue_stats(CALLS, sl_seconds=20, short_abandon=5)
    assert s["calls"] == 10 and s["self_service"] == 2 and s["containment"] == 0.2
    assert s["offered"] == 7 and s["short_abandons"] == 1
    assert s["answered"] == 4 and s["answered_in_sl"] == 2
    assert s["service_level"] == pytest.approx(2 / 7, abs=1e-4)
    assert s["abandoned"] == 1 and s["abandon_rate"] == pytest.approx(1 / 7, abs=1e-4)
    assert (s["callbacks"], s["overflowed"], s["voicemail"]) == (1, 1, 0)
    assert s["asa"] == 17.5                   # (10 + 30 + 5 + 25) / 4
    assert s["aht"] == 170.0                  # (120 + 60 + 300 + 200) / 4
    assert s["adverse_events"] == 2


def test_short_abandons_kept_when_threshold_is_zero() -> None:
    s = queue_stats(CALLS, sl_seconds=20, short_abandon=0)
    assert s["offered"] == 8 and s["abandoned"] == 2 and s["short_abandons"] == 0
    assert s["service_level"] == 0.25 and s["abandon_rate"] == 0.25


def test_threshold_is_inclusive_and_configurable() -> None:
    assert queue_stats(CALLS, sl_seconds=25)["answered_in_sl"] == 3      # c10 waited exactly 25 s
    assert queue_stats(CALLS, sl_seconds=30)["service_level"] == pytest.approx(4 / 7, abs=1e-4)


def test_by_queue() -> None:
    rows = {r["group"]: r for r in grouped(CALLS, "queue")}
    assert set(rows) == {"-", "info", "safety"}
    info, safety, none = rows["info"], rows["safety"], rows["-"]
    assert (info["calls"], info["offered"], info["answered"], info["answered_in_sl"]) == (6, 5, 2, 1)
    assert info["service_level"] == 0.2 and info["abandon_rate"] == 0.2
    assert info["asa"] == 20.0 and info["aht"] == 90.0
    assert (safety["offered"], safety["answered"], safety["service_level"]) == (2, 2, 0.5)
    assert safety["asa"] == 15.0 and safety["aht"] == 250.0
    assert none["offered"] == 0 and none["service_level"] is None and none["containment"] == 1.0


def test_by_hour_day_agent_intent() -> None:
    hours = {r["group"]: r for r in grouped(CALLS, "hour")}
    assert list(hours) == ["2026-03-02 09:00", "2026-03-02 10:00"]
    assert (hours["2026-03-02 09:00"]["calls"], hours["2026-03-02 09:00"]["offered"]) == (4, 3)
    assert hours["2026-03-02 09:00"]["service_level"] == pytest.approx(1 / 3, abs=1e-4)
    assert (hours["2026-03-02 10:00"]["calls"], hours["2026-03-02 10:00"]["service_level"]) == (6, 0.25)
    (day,) = grouped(CALLS, "day")
    assert day["group"] == "2026-03-02" and day["calls"] == 10
    agents = {r["group"]: r for r in grouped(CALLS, "agent")}
    assert agents["a1"]["answered"] == 2 and agents["a1"]["aht"] == 210.0        # (120 + 300) / 2
    assert agents["a2"]["asa"] == 27.5                                             # (30 + 25) / 2
    intents = {r["group"]: r["calls"] for r in grouped(CALLS, "intent")}
    assert intents == {"-": 1, "adverse_event": 2, "availability": 2, "dosage": 3, "opening_hours": 2}


def test_occupancy_by_hand() -> None:
    occ = {o["agent"]: o for o in occupancy(AGENT_EVENTS, CALLS, until=at(11, 0))}
    a1, a2 = occ["a1"], occ["a2"]
    # a1: logged in 08:55-11:00 = 7500 s; lunch 09:30-09:45 = 900 s; wrap-up 10:05:15-10:07:15 = 120 s
    assert (a1["logged_in"], a1["paused"], a1["wrapup"], a1["talk"], a1["calls"]) == (7500, 900, 120, 420, 2)
    assert a1["occupancy"] == pytest.approx(540 / 6600, abs=1e-4)
    # a2: 09:00-10:00 + 10:30-11:00 (still logged in at the end) = 5400 s; talk 60 + 200
    assert (a2["logged_in"], a2["talk"]) == (5400, 260)
    assert a2["occupancy"] == pytest.approx(260 / 5400, abs=1e-4)
    # from 09:30 a1 starts paused (state carried in from the event at 09:30)
    a1 = occupancy(AGENT_EVENTS, [], since=at(9, 30), until=at(11, 0))[0]
    assert (a1["logged_in"], a1["paused"]) == (5400, 900)


def test_speech_per_intent() -> None:
    sp = {r["intent"]: r for r in speech_stats(CALLS)}
    assert set(sp) == {"adverse_event", "availability", "dosage", "opening_hours"}
    assert (sp["dosage"]["attempts"], sp["dosage"]["automation_rate"], sp["dosage"]["fallback_rate"]) == (2, 1.0, 0.0)
    assert sp["dosage"]["mean_confidence"] == 0.8
    assert (sp["adverse_event"]["automated"], sp["adverse_event"]["fallback"]) == (1, 1)
    assert sp["adverse_event"]["automation_rate"] == 0.5 and sp["adverse_event"]["mean_confidence"] == 0.6
    assert sp["availability"]["fallback_rate"] == 1.0 and sp["availability"]["mean_confidence"] is None
    assert sp["opening_hours"]["automation_rate"] == 1.0


def test_adverse_events_time_to_agent() -> None:
    # c5: 10 s IVR + 5 s wait = 15 s; c10: 20 s IVR + 25 s wait = 45 s
    assert adverse_stats(CALLS) == {"count": 2, "answered": 2, "time_to_agent_avg": 30.0, "time_to_agent_max": 45.0}


def test_wait_histogram() -> None:
    bins = {b["from"]: b["calls"] for b in wait_histogram(CALLS, bin_seconds=10, bins=12)}
    # waits 10, 30, 3, 45, 5, 90, 120 (-> last bin, 110+), 25
    assert bins[0] == 2 and bins[10] == 1 and bins[20] == 1 and bins[30] == 1 and bins[40] == 1
    assert bins[90] == 1 and bins[110] == 1 and sum(bins.values()) == 8


def test_build_report_and_renderings(tmp_path: Path) -> None:
    rep = build_report(CALLS, AGENT_EVENTS, by="queue", until=at(11, 0))
    assert rep["total"]["offered"] == 7 and len(rep["groups"]) == 3 and len(rep["agents"]) == 2
    csv_text = report_csv(rep)
    lines = csv_text.splitlines()
    assert lines[0].startswith("group,calls,offered,answered,answered_in_sl,service_level")
    assert lines[-1].startswith("TOTAL,10,7,4,2,0.2857")
    assert '"service_level": 0.2857' in to_json(rep)
    html = report_html(rep)
    assert html.count("<svg") == 2 and "<script" not in html and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    with pytest.raises(ValueError, match="cannot group by 'colour'"):
        build_report(CALLS, [], by="colour")


def _epoch(hh: int, mm: int, ss: int) -> int:
    return int(datetime(2026, 3, 2, hh, mm, ss, tzinfo=timezone.utc).timestamp())


def test_queue_log_export() -> None:
    ring = CallEvent("c2", at(9, 5, 20), "ring_no_answer", {"agent": "a1", "queue": "info", "ring_ms": 15000})
    lines = export_queue_log(CALLS, [ring]).splitlines()
    c1 = [ln for ln in lines if ln.split("|")[1] == "c1"]
    # c1: 09:00:00 + 20 s IVR -> enters 09:00:20, waits 10 s -> connect 09:00:30, 120 s talk -> 09:02:30
    assert c1 == [f"{_epoch(9, 0, 20)}|c1|info|NONE|ENTERQUEUE||+4930111|1",
                  f"{_epoch(9, 0, 30)}|c1|info|a1|CONNECT|10||0",
                  f"{_epoch(9, 2, 30)}|c1|info|a1|COMPLETECALLER|10|120|1"]
    by_call = {}
    for ln in lines:
        by_call.setdefault(ln.split("|")[1], []).append(ln.split("|")[4])
    assert by_call["c2"] == ["ENTERQUEUE", "RINGNOANSWER", "CONNECT", "COMPLETECALLER"]
    assert by_call["c4"] == ["ENTERQUEUE", "ABANDON"]
    assert by_call["c5"][-1] == "COMPLETEAGENT"                 # agent hung up
    assert by_call["c6"] == ["ENTERQUEUE", "EXITWITHKEY"]
    assert by_call["c7"] == ["ENTERQUEUE", "EXITWITHTIMEOUT"]
    assert "c8" not in by_call                                   # self-service never queued
    abandon = next(ln for ln in lines if "|c4|" in ln and "ABANDON" in ln)
    assert abandon == f"{_epoch(9, 21, 5)}|c4|info|NONE|ABANDON|1|1|45"
    assert [int(ln.split("|")[0]) for ln in lines] == sorted(int(ln.split("|")[0]) for ln in lines)
