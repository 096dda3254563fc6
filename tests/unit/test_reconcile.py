"""CDR reconciliation: cdr_csv lines (as Asterisk 22 writes them) → CRM records."""
from __future__ import annotations

import asyncio
import csv
import logging
import tracemalloc
from datetime import datetime, timedelta, timezone

import pytest

from ivr.crm import reconcile
from ivr.crm.cdr_recovery import CdrFile, CdrRecovery, CdrUnreadable, seek_time
from ivr.config import Settings, load_settings
from ivr.crm import codec
from ivr.crm.records import CallEvent, CallRecord
from ivr.crm.store import open_store

AGENTS = {"alice": "alice", "bob": "bob", "ops-7": "olga"}
# Lines as the sandbox's cdr_csv wrote them (usegmtime, loguniqueid, loguserfield = yes).
CLID = '"""Caller 0611000005"" <0611000005>"'
FALLBACK_ANSWERED = [
    f'"","0611000005","100","hotline",{CLID},"PJSIP/test-caller-00000008","PJSIP/alice-00000009",'
    '"Dial","PJSIP/alice&PJSIP/bob,10","2026-11-24 02:49:26","2026-11-24 02:49:26",'
    '"2026-11-24 02:49:32",5,5,"ANSWERED","DOCUMENTATION","1795488566.8","ivr-fallback"',
    f'"","0611000005","100","hotline",{CLID},"PJSIP/test-caller-00000008","PJSIP/bob-0000000a",'
    '"Dial","PJSIP/alice&PJSIP/bob,10","2026-11-24 02:49:30","2026-11-24 02:49:30",'
    '"2026-11-24 02:49:30",0,0,"NO ANSWER","DOCUMENTATION","1795488566.8","ivr-fallback"',
]
NOBODY_ANSWERED = [
    '"","0611000004","100","hotline","""Caller 0611000004"" <0611000004>",'
    '"PJSIP/test-caller-00000005","PJSIP/alice-00000007","Dial","PJSIP/alice&PJSIP/bob,10",'
    '"2026-11-24 02:57:47","2026-11-24 02:57:47","2026-11-24 02:57:57",10,10,"NO ANSWER",'
    '"DOCUMENTATION","1795489050.5","ivr-fallback"',
    '"","0611000004","100","hotline","""Caller 0611000004"" <0611000004>",'
    '"PJSIP/test-caller-00000005","PJSIP/bob-00000008","Dial","PJSIP/alice&PJSIP/bob,10",'
    '"2026-11-24 02:57:47","2026-11-24 02:57:47","2026-11-24 02:57:57",10,10,"NO ANSWER",'
    '"DOCUMENTATION","1795489050.5","ivr-fallback"',
    '"","0611000004","100","hotline","""Caller 0611000004"" <0611000004>",'
    '"PJSIP/test-caller-00000005","","Hangup","","2026-11-24 02:57:57","2026-11-24 02:57:57",'
    '"2026-11-24 02:57:59",2,2,"ANSWERED","DOCUMENTATION","1795489050.5","ivr-fallback"',
]
HUNG_UP_RINGING = [
    '"","0611000020","100","hotline","""Caller 0611000020"" <0611000020>",'
    '"PJSIP/test-caller-00000010","PJSIP/alice-00000011","Dial","PJSIP/alice&PJSIP/bob,10",'
    '"2026-11-24 03:10:00",,"2026-11-24 03:10:04",4,0,"NO ANSWER","DOCUMENTATION",'
    '"1795489800.16","ivr-fallback"',
]
ENGINE_CALL = [   # handled by the engine (no userfield), then a menu hang-up: not ours to touch
    '"","0611000003","100","hotline","""Caller 0611000003"" <0611000003>",'
    '"PJSIP/test-caller-00000004","","AGI","agi://127.0.0.1:15073/hotline,100",'
    '"2026-11-24 02:49:00","2026-11-24 02:49:00","2026-11-24 02:49:01",1,1,"ANSWERED",'
    '"DOCUMENTATION","1795488540.4",""',
]
AGENT_FEATURE = [   # an agent dialing *71: another context, never a hotline call
    '"","alice","*71","hotline-agents","""alice"" <alice>","PJSIP/alice-00000020","","Hangup","",'
    '"2026-11-24 03:20:00","2026-11-24 03:20:00","2026-11-24 03:20:01",1,1,"ANSWERED",'
    '"DOCUMENTATION","1795490400.32",""',
]


def outcomes(lines: list[str]) -> dict[str, reconcile.CdrOutcome]:
    calls = reconcile.group_calls(reconcile.parse_lines(lines), ["hotline"])
    return {uid: reconcile.outcome_of(legs) for uid, legs in calls.items()}


def test_a_line_is_parsed_with_its_quotes_empty_fields_and_gmt_times():
    row = next(reconcile.parse_lines(HUNG_UP_RINGING))
    assert row.uniqueid == "1795489800.16" and row.src == "0611000020" and row.dst == "100"
    assert row.dstchannel == "PJSIP/alice-00000011" and row.lastdata == "PJSIP/alice&PJSIP/bob,10"
    assert row.answer is None                             # never answered: an empty, bare field
    assert row.start == datetime(2026, 11, 24, 3, 10, tzinfo=timezone.utc)
    assert row.billsec == 0 and row.disposition == "NO ANSWER" and row.userfield == "ivr-fallback"


def test_local_times_are_read_in_the_given_zone():
    paris = timezone(timedelta(hours=1))
    row = next(reconcile.parse_lines(ENGINE_CALL, paris))
    assert row.start == datetime(2026, 11, 24, 1, 49, tzinfo=timezone.utc)


@pytest.mark.parametrize("tz", [timezone.utc, timezone(timedelta(hours=1)), None])
def test_rows_ending_before_the_window_are_skipped_and_the_boundary_is_kept(tz):
    end = datetime(2026, 11, 24, 3, tzinfo=timezone.utc)
    lines = [cdr_line(f"{i}.0", "0611", (end + timedelta(seconds=i)).astimezone(tz))
             for i in (-3600, -1, 0, 1)]
    kept = [r.uniqueid for r in reconcile.parse_lines(lines, tz, ends_from=end)]
    assert kept == ["0.0", "1.0"]
    assert len(list(reconcile.parse_lines(lines, tz))) == 4


def test_reading_a_big_file_keeps_only_the_window_in_memory(tmp_path):
    """The first read of a day's file goes through hours of rows (the longest-call margin):
    rows ending before the window are dropped while streaming, not gathered then filtered."""
    path = tmp_path / "Master.csv"
    end = datetime(2026, 11, 24, 12, tzinfo=timezone.utc)
    with open(path, "w") as fh:                            # 11 h, a call every 2 seconds
        for i in range(11 * 1800, 0, -1):
            fh.write(cdr_line(f"{i}.0", "0611", end - timedelta(seconds=2 * i)))
    tracemalloc.start()
    try:
        rows = CdrFile(path).read_new(end - timedelta(minutes=10))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(rows) == 300 and rows[-1].uniqueid == "1.0"
    assert peak < path.stat().st_size / 4, (peak, path.stat().st_size)


@pytest.mark.parametrize("columns, userfield", [(17, ""), (18, "ivr-fallback"),
                                                (20, ""), (21, "ivr-fallback")])
def test_uniqueid_userfield_and_new_cdr_columns_layouts(columns, userfield):
    fields = next(csv.reader(FALLBACK_ANSWERED[:1]))
    base = fields[:17] + (fields[17:18] if columns in (18, 21) else [])
    extra = ["", "1795488566.8", "3"] if columns in (20, 21) else []
    row = reconcile.row_from_fields(base + extra)
    assert row is not None and row.uniqueid == "1795488566.8" and row.userfield == userfield


@pytest.mark.parametrize("line", [
    "", "garbage", '"","0611","100","hotline"',                       # too short
    FALLBACK_ANSWERED[0].replace("2026-11-24 02:49:26", "yesterday"),   # bad time
    FALLBACK_ANSWERED[0].replace('"1795488566.8"', '""'),              # no uniqueid
])
def test_lines_that_are_not_cdr_rows_are_skipped(line):
    assert list(reconcile.parse_lines([line])) == []


def test_operator_answering_the_fallback_ring_group_is_answered_by_that_agent():
    [call] = outcomes(FALLBACK_ANSWERED).values()
    assert call.disposition == "answered" and call.endpoint == "alice" and call.billsec == 5
    assert call.via_fallback and call.caller == "0611000005" and call.dialed == "100"
    assert call.started_at == datetime(2026, 11, 24, 2, 49, 26, tzinfo=timezone.utc)
    assert call.ended_at == datetime(2026, 11, 24, 2, 49, 32, tzinfo=timezone.utc)
    rec = reconcile.record_for_missing(call, AGENTS)
    assert (rec.call_id, rec.route, rec.recovered, rec.agent) == ("1795488566.8", "fallback",
                                                                  True, "alice")
    assert rec.talk_seconds == 5.0 and len(rec.decision_trace) == 2
    assert "recovered from Asterisk's CDR" in rec.hangup_cause
    assert "engine was down" in rec.hangup_cause


def test_ring_group_timing_out_then_the_sorry_prompt_is_failed():
    [call] = outcomes(NOBODY_ANSWERED).values()
    assert call.disposition == "failed" and call.endpoint is None and call.billsec is None
    assert call.ended_at == datetime(2026, 11, 24, 2, 57, 59, tzinfo=timezone.utc)
    assert "nobody answered (NO ANSWER)" in call.summary


def test_caller_hanging_up_while_the_operators_ring_is_abandoned():
    [call] = outcomes(HUNG_UP_RINGING).values()
    assert call.disposition == "abandoned" and "while the phones rang" in call.summary


def test_a_call_that_never_reached_a_phone_is_abandoned_and_not_via_the_fallback():
    [call] = outcomes(ENGINE_CALL).values()
    assert call.disposition == "abandoned" and not call.via_fallback
    assert "engine has no record" in reconcile.record_for_missing(call, AGENTS).hangup_cause


def test_rows_are_grouped_per_call_and_other_contexts_are_ignored():
    lines = [FALLBACK_ANSWERED[0], NOBODY_ANSWERED[0], *AGENT_FEATURE, FALLBACK_ANSWERED[1],
             *NOBODY_ANSWERED[1:]]
    calls = reconcile.group_calls(reconcile.parse_lines(lines), ["hotline"])
    assert {uid: len(legs) for uid, legs in calls.items()} == {"1795488566.8": 2,
                                                                "1795489050.5": 3}


def test_an_endpoint_that_is_not_an_agent_is_kept_as_is_and_agents_are_named():
    line = FALLBACK_ANSWERED[0].replace("PJSIP/alice-00000009", "PJSIP/ops-7-0000000b")
    [call] = outcomes([line]).values()
    assert call.endpoint == "ops-7"
    assert reconcile.record_for_missing(call, AGENTS).agent == "olga"
    assert reconcile.record_for_missing(call, {}).agent == "ops-7"


def test_plan_writes_missing_calls_completes_cut_off_ones_and_leaves_the_rest():
    found = outcomes(FALLBACK_ANSWERED + NOBODY_ANSWERED + ENGINE_CALL)
    cut_off = CallRecord("1795489050.5", caller="0611000004", recovered=True,
                         disposition="recovered", route="fallback",
                         started_at=datetime(2026, 11, 24, 2, 57, 30, tzinfo=timezone.utc),
                         ended_at=datetime(2026, 11, 24, 4, 0, tzinfo=timezone.utc),
                         hangup_cause="the engine stopped abruptly during the call")
    engine_record = CallRecord("1795488540.4", caller="0611000003", disposition="abandoned")
    known = {"1795489050.5": cut_off, "1795488540.4": engine_record}
    missing, completed = reconcile.plan(found.values(), known, AGENTS)
    assert [r.call_id for r in missing] == ["1795488566.8"]
    [done] = completed
    assert done.disposition == "failed" and done.recovered and done.agent is None   # the CDR's word
    assert done.ended_at == datetime(2026, 11, 24, 2, 57, 59, tzinfo=timezone.utc)
    assert done.hangup_cause.startswith("the engine stopped abruptly during the call; recovered")
    # A second run over the same CDRs, with what the first one wrote: nothing more to do.
    known |= {r.call_id: r for r in missing + completed}
    assert reconcile.plan(found.values(), known, AGENTS) == ([], [])


def test_a_cut_off_call_keeps_the_agent_the_engine_saw():
    [found] = outcomes(FALLBACK_ANSWERED).values()
    record = CallRecord("1795488566.8", recovered=True, disposition="recovered", agent="bob",
                        talk_seconds=1.5, started_at=found.started_at)
    done = reconcile.enrich_cut_off(record, found, AGENTS)
    assert done.agent == "bob" and done.talk_seconds == 1.5


def test_a_cut_off_call_is_timed_from_the_answer_the_engine_saw_and_keeps_its_menu():
    [found] = outcomes(FALLBACK_ANSWERED).values()
    record = CallRecord("1795488566.8", recovered=True, disposition="recovered",
                        started_at=found.started_at)           # all the engine saved: the arrival
    answered = found.ended_at - timedelta(seconds=4.5)
    timeline = [CallEvent(record.call_id, found.started_at, "ivr", {"node": "main", "input": "1"}),
                CallEvent(record.call_id, found.started_at, "queue_enter",
                          {"queue": "orders", "priority": 10, "intent": "order"}),
                CallEvent(record.call_id, answered, "answered", {"agent": "alice"})]
    facts = reconcile.facts_of(timeline)
    done = reconcile.enrich_cut_off(record, found, AGENTS, facts)
    assert done.talk_seconds == 4.5 < reconcile.talk_upper_bound(found)
    assert (done.queue, done.priority, done.intent, done.path) == (
        "orders", 10, "order", [{"node": "main", "input": "1"}])
    # Without the engine's answer instant, the CDR's upper bound, as before.
    assert reconcile.enrich_cut_off(record, found, AGENTS).talk_seconds == reconcile.talk_upper_bound(found)
    [done] = reconcile.plan([found], {found.call_id: record}, AGENTS, {found.call_id: facts})[1]
    assert done.talk_seconds == 4.5


# ---- the file reader ------------------------------------------------------------------------
def cdr_line(uid: str, caller: str, end: datetime, context: str = "hotline") -> str:
    start, stamp = end - timedelta(seconds=30), "%Y-%m-%d %H:%M:%S"
    return (f'"","{caller}","100","{context}","""Caller {caller}"" <{caller}>",'
            f'"PJSIP/test-caller-1","PJSIP/alice-2","Dial","PJSIP/alice&PJSIP/bob,10",'
            f'"{start:{stamp}}","{start:{stamp}}","{end:{stamp}}",30,30,"ANSWERED",'
            f'"DOCUMENTATION","{uid}","ivr-fallback"\n')


def test_a_big_file_is_entered_by_bisection_near_the_window(tmp_path):
    path = tmp_path / "Master.csv"
    t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    with open(path, "w") as fh:                            # two years, a call every 10 minutes
        for i in range(2 * 365 * 144):
            fh.write(cdr_line(f"{i}.0", "0611", t0 + timedelta(minutes=10 * i)))
    since = t0 + timedelta(days=700)
    with open(path, "rb") as fh:
        offset = seek_time(fh, path.stat().st_size, since, timezone.utc)
        fh.seek(offset)
        first = next(reconcile.parse_lines([fh.readline().decode()]))
    # At most one scan block (256 KB, ~7 days here) before "since" minus the longest call.
    assert since - timedelta(days=8) < first.end <= since - timedelta(hours=12)
    rows = CdrFile(path).read_new(since)
    assert len(rows) < 40 * 144 and rows[-1].uniqueid == f"{2 * 365 * 144 - 1}.0"


def test_the_reader_reads_only_what_was_appended_and_waits_for_whole_lines(tmp_path):
    path = tmp_path / "Master.csv"
    end = datetime(2026, 11, 24, 3, tzinfo=timezone.utc)
    path.write_text(cdr_line("1.1", "0611", end))
    reader = CdrFile(path)
    assert [r.uniqueid for r in reader.read_new(end - timedelta(days=1))] == ["1.1"]
    assert [r.uniqueid for r in reader.read_new(end)] == ["1.1"]   # not committed: again
    reader.commit()
    line = cdr_line("2.2", "0612", end + timedelta(minutes=1))
    with open(path, "a") as fh:
        fh.write(line[:40])                                 # Asterisk is writing this one
    assert reader.read_new(end) == []
    reader.commit()
    with open(path, "a") as fh:
        fh.write(line[40:])
    assert [r.uniqueid for r in reader.read_new(end)] == ["2.2"]
    reader.commit()
    assert reader.read_new(end) == []


def test_a_missing_file_is_no_calls_yet_but_a_missing_folder_is_an_error(tmp_path):
    assert CdrFile(tmp_path / "Master.csv").read_new(datetime.now(timezone.utc)) == []
    with pytest.raises(CdrUnreadable):
        CdrFile(tmp_path / "nope/Master.csv").read_new(datetime.now(timezone.utc))


# ---- against a real CRM store ---------------------------------------------------------------
def test_recovery_writes_each_missing_call_once_and_never_before_the_crm_existed(tmp_path):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    created = now - timedelta(hours=1, microseconds=300000)       # x.7 s: not a whole second
    csv_path = tmp_path / "Master.csv"
    csv_path.write_text(cdr_line("100.1", "0611000099", now - timedelta(days=30))   # before
                        + cdr_line("150.1", "0611000098", created - timedelta(seconds=2))
                        # started in the CRM's first second (cdr_csv truncates to whole seconds)
                        + cdr_line("170.1", "0611000097", created.replace(microsecond=0)
                                   + timedelta(seconds=30))
                        + cdr_line("200.2", "0611000042", now - timedelta(minutes=5))
                        + cdr_line("300.3", "alice", now - timedelta(minutes=4),
                                   context="hotline-agents"))
    settings = Settings.model_validate({"cdr": {"csv_path": str(csv_path)}})

    async def scenario() -> list[CallRecord]:
        store = await open_store(f"sqlite:///{tmp_path / 'crm.db'}")
        # The CRM is "created" an hour ago: its schema's first migration says when.
        async with store.backend.transaction() as tx:
            await tx.execute("UPDATE schema_version SET applied_at = ?",
                             [codec.ts(created)])
        try:
            first = await CdrRecovery(settings, store, AGENTS).run("test")
            again = await CdrRecovery(settings, store, AGENTS).run("test again")
            assert (first, again) == ((2, 0), (0, 0))
            return await store.list_calls()
        finally:
            await store.close()

    early, record = asyncio.run(scenario())
    assert early.call_id == "170.1"
    assert record.call_id == "200.2" and record.caller == "0611000042"
    assert record.recovered and record.disposition == "answered" and record.agent == "alice"


def test_each_sites_cdr_file_is_read_and_its_calls_are_that_sites(tmp_path, caplog):
    """sites: (issue 16): every site's Asterisk writes its own Master.csv; a call Asterisk took
    alone at lyon is recovered as lyon's, one at paris as paris's, and a site whose file
    cannot be read is said (once) without stopping the others."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    paris, lyon = tmp_path / "paris/Master.csv", tmp_path / "lyon/Master.csv"
    for path, uid, caller in ((paris, "paris-1700.1", "0611000071"), (lyon, "lyon-1700.1", "0611000072")):
        path.parent.mkdir()
        path.write_text(cdr_line(uid, caller, now - timedelta(minutes=3)))
    site = {"ami": {"host": "127.0.0.1"}, "trunk": "to-x"}
    settings = Settings.model_validate({"sites": [
        {"name": "paris", **site, "cdr_csv": str(paris)}, {"name": "lyon", **site, "cdr_csv": str(lyon)},
        {"name": "nice", **site, "cdr_csv": str(tmp_path / "nice/gone/Master.csv")},
        {"name": "lille", **site}]})

    async def scenario() -> tuple[tuple[int, int], tuple[int, int], list[CallRecord]]:
        store = await open_store(f"sqlite:///{tmp_path / 'crm.db'}")
        async with store.backend.transaction() as tx:
            await tx.execute("UPDATE schema_version SET applied_at = ?", [codec.ts(now - timedelta(hours=1))])
        try:
            recovery = CdrRecovery(settings, store, AGENTS)
            assert recovery.sites_unread == ["lille"]
            return await recovery.run("start"), await recovery.run("periodic check"), await store.list_calls()
        finally:
            await store.close()

    with caplog.at_level(logging.WARNING):
        first, again, records = asyncio.run(scenario())
    assert (first, again) == ((2, 0), (0, 0))
    assert sorted((r.call_id, r.site) for r in records) == [("lyon-1700.1", "lyon"), ("paris-1700.1", "paris")]
    assert caplog.text.count("CDR reconciliation is off for site nice") == 1
    assert "sites: nice: cdr_csv" in caplog.text


def test_recovery_says_it_is_off_when_the_file_cannot_be_read(tmp_path, caplog):
    settings = Settings.model_validate({"cdr": {"csv_path": str(tmp_path / "no/Master.csv")}})

    async def scenario() -> list[tuple[int, int]]:
        store = await open_store(f"sqlite:///{tmp_path / 'crm.db'}")
        try:
            recovery = CdrRecovery(settings, store, AGENTS)
            return [await recovery.run("start"), await recovery.run("periodic check")]
        finally:
            await store.close()

    assert asyncio.run(scenario()) == [(0, 0), (0, 0)]
    assert caplog.text.count("CDR reconciliation is off") == 1       # said once, not each minute
    assert "cdr.csv_path" in caplog.text


def test_an_empty_csv_path_means_no_reconciliation_said_once_and_no_sandbox_fallback(tmp_path, caplog):
    # A sandbox's Master.csv where the lab keeps it: production must never read it unasked.
    sandbox_cdr = tmp_path / ".cache/sandbox/root/var/log/asterisk/cdr-csv/Master.csv"
    sandbox_cdr.parent.mkdir(parents=True)
    sandbox_cdr.write_text(cdr_line("200.2", "0611000042", datetime.now(timezone.utc)))
    (tmp_path / "engine.yaml").write_text('cdr: {csv_path: ""}\n')
    settings = load_settings(tmp_path / "engine.yaml")       # relative paths from tmp_path
    assert settings.cdr_csv_path() is None

    async def scenario() -> tuple[tuple[int, int], list[CallRecord]]:
        store = await open_store(f"sqlite:///{tmp_path / 'crm.db'}")
        try:
            recovery = CdrRecovery(settings, store, AGENTS)
            await recovery.run_forever(every_s=0)          # the engine's start
            return await recovery.run("AMI logged in"), await store.list_calls()
        finally:
            await store.close()

    with caplog.at_level(logging.INFO):
        done, calls = asyncio.run(scenario())
    assert done == (0, 0) and calls == []
    assert caplog.text.count("CDR reconciliation is off") == 1
    assert "set cdr.csv_path" in caplog.text


class FlakyStore:
    """A CRM that fails its first lookup (database down), then works."""

    def __init__(self) -> None:
        self.saved: list[CallRecord] = []
        self.lookups = 0
        self.backend = self

    async def fetchall(self, sql: str, params: list) -> list[tuple]:
        return [(None,)]                                   # schema_version: no creation date

    async def cut_off_calls(self, call_ids) -> tuple[set[str], dict[str, CallRecord]]:
        self.lookups += 1
        if self.lookups == 1:
            raise ConnectionError("database is down")
        return {r.call_id for r in self.saved if r.call_id in call_ids}, {}

    def save_call(self, record: CallRecord) -> None:
        self.saved.append(record)

    async def flush(self) -> None:
        pass


def test_after_a_failed_run_the_next_one_reads_the_same_rows_again(tmp_path, caplog):
    csv_path = tmp_path / "Master.csv"
    csv_path.write_text(cdr_line("200.2", "0611000042", datetime.now(timezone.utc)))
    settings = Settings.model_validate({"cdr": {"csv_path": str(csv_path)}})
    store = FlakyStore()

    async def scenario() -> list[tuple[int, int]]:
        recovery = CdrRecovery(settings, store, AGENTS)
        return [await recovery.run("start"), await recovery.run("periodic check"),
                await recovery.run("periodic check")]

    assert asyncio.run(scenario()) == [(0, 0), (1, 0), (0, 0)]
    assert [r.call_id for r in store.saved] == ["200.2"]
    assert "database is down" in caplog.text and "the next check tries again" in caplog.text
