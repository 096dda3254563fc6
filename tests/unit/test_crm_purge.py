"""Retention purge on SQLite and a real PostgreSQL: personal data goes, figures and AE calls stay."""
from __future__ import annotations

import dataclasses
import json
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "crm"))
from crm_calls import AGENT_EVENTS, CALLS, DAY, at  # noqa: E402
from crm_pg import crm_url, pg_server  # noqa: E402,F401  (crm_url: fixture)

from ivr.crm.errors import CrmError  # noqa: E402
from ivr.crm.records import CallEvent, CallRecord  # noqa: E402
from ivr.crm.store import open_store  # noqa: E402
from ivr.crm.purge import AE_REASON, purge, purge_cmd  # noqa: E402
from ivr.crm.reports import build_report  # noqa: E402

NOW = DAY + timedelta(days=40)
AE_IDS = {r.call_id for r in CALLS if r.adverse_event}


def _calls() -> list[CallRecord]:
    """The report fixture's calls with personal data added; plus one recent call."""
    out = []
    for i, rec in enumerate(CALLS):
        out.append(dataclasses.replace(
            rec, speech_text=f"my number is 06 01 02 03 0{i}" if rec.route == "speech" else None,
            path=[{"node": "lang", "language": "fr"}, {"node": "main", "input": "key", "key": "2"},
                  {"node": "ask_id", "input": "digits", "value": f"1234{i}"}],
            decision_trace=["lang=fr"]))
    recent = CallRecord(call_id="r1", caller="+33601020304", dialed="100", started_at=NOW - timedelta(days=2),
                        speech_text="recent words", path=[{"node": "ask_id", "input": "digits", "value": "999"}])
    return out + [recent]


async def _fill(url: str):  # type: ignore[no-untyped-def]
    store = await open_store(url)
    for rec in _calls():
        store.save_call(rec)
        store.add_event(CallEvent(rec.call_id, rec.started_at, "ring_no_answer",  # type: ignore[arg-type]
                                  {"agent": "a1", "queue": "info", "ring_ms": 15000, "caller": rec.caller}))
    for ev in AGENT_EVENTS:
        store.add_agent_event(ev.agent, ev.at, ev.state, ev.reason)
    await store.save_contact("Dr Martin", ["+4930111"], "doctor")
    await store.flush()
    return store


async def _report(store) -> dict:  # type: ignore[no-untyped-def]
    old = [r for r in await store.list_calls() if r.call_id != "r1"]
    return build_report(old, await store.agent_events(), by="queue", until=at(11, 0))


async def test_purge_keeps_figures_removes_personal_data_and_spares_ae(crm_url: str) -> None:
    store = await _fill(crm_url)
    try:
        before = await _report(store)
        ae_before = {c: await store.get_call(c) for c in AE_IDS}
        cases_before = await store.list_cases()
        assert len(await store.contact_history("+4930111")) == 9       # all but c2 (+4930222)

        dry = await purge(store, 30, now=NOW, dry_run=True)
        assert (dry.calls_purged, dry.ae_calls_kept, dry.dry_run) == (8, 2, True)
        assert (await store.get_call("c1")).caller == "+4930111"       # dry run changed nothing

        rep = await purge(store, 30, now=NOW)
        assert (rep.calls_purged, rep.events_scrubbed, rep.ae_calls_kept) == (8, 8, 2)
        assert rep.ae_kept_reason == AE_REASON and "pharmacovigilance" in rep.as_dict()["ae_kept_reason"]
        assert rep.cutoff == NOW - timedelta(days=30)

        assert await _report(store) == before                            # same aggregate figures
        for rec in await store.list_calls():
            if rec.call_id in AE_IDS:
                assert rec == ae_before[rec.call_id]                      # untouched
            elif rec.call_id == "r1":
                assert rec.caller and rec.speech_text == "recent words"   # within retention
                assert rec.path[0]["value"] == "999"
            else:
                orig = next(c for c in _calls() if c.call_id == rec.call_id)
                assert rec.caller == "" and rec.speech_text is None
                assert rec.path[-1] == {"node": "ask_id", "input": "digits", "value": ""}
                assert rec.path[:2] == orig.path[:2]
                keep = ("queue", "started_at", "ended_at", "wait_seconds", "talk_seconds", "disposition",
                        "intent", "agent", "route", "speech_confidence", "speech_outcome", "decision_trace")
                assert all(getattr(rec, f) == getattr(orig, f) for f in keep)
            events = await store.call_events(rec.call_id)
            purged = rec.call_id not in AE_IDS and rec.call_id != "r1"
            assert [("caller" in e.data) for e in events] == [not purged]
            assert events[0].data["agent"] == "a1" and events[0].data["ring_ms"] == 15000
        # contacts: the record stays, its history no longer links purged calls
        assert await store.find_contact("+4930111") is not None
        assert {r.call_id for r in await store.contact_history("+4930111")} == AE_IDS
        assert await store.list_cases() == cases_before

        again = await purge(store, 30, now=NOW)                           # idempotent
        assert (again.calls_purged, again.calls_already_clean, again.events_scrubbed) == (0, 8, 0)
    finally:
        await store.close()


async def test_purge_refuses_bad_retention(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path}/crm.db")
    try:
        for bad in (0, -3, 1.5, True):
            with pytest.raises(CrmError, match="whole number of days"):
                await purge(store, bad, now=NOW)  # type: ignore[arg-type]
    finally:
        await store.close()


def test_purge_command_dry_run_and_json(tmp_path: Path) -> None:
    import asyncio

    url = f"sqlite:///{tmp_path}/crm.db"

    async def fill() -> None:
        store = await _fill(url)
        await store.close()

    asyncio.run(fill())
    runner = CliRunner()
    res = runner.invoke(purge_cmd, ["--older-than", "1", "--dry-run"], obj={"crm_url": url})
    assert res.exit_code == 0, res.output
    assert "would remove: 9 call(s)" in res.output and "kept (adverse events): 2 call(s)" in res.output
    assert "dry run" in res.output
    res = runner.invoke(purge_cmd, ["--older-than", "1", "--format", "json"], obj={"crm_url": url})
    data = json.loads(res.output)
    assert (data["calls_purged"], data["ae_calls_kept"], data["dry_run"]) == (9, 2, False)
    res = runner.invoke(purge_cmd, ["--older-than", "0"], obj={"crm_url": url})
    assert res.exit_code != 0 and "--older-than" in res.output
    res = runner.invoke(purge_cmd, ["--older-than", "5"], obj={})
    assert res.exit_code == 1 and "no CRM store" in res.output
