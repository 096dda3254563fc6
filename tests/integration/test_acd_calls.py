"""The ACD through real Asterisk: skills, longest idle, overflow with age kept, abandons,
device states, agents' CLI and phone feature codes."""
from __future__ import annotations

import json
import re
import time
from datetime import datetime

import pytest

from hotline_lab.lab import PROJECT, Lab, write_config
from hotline_lab.sipp import AwaitHangup, CallerHangsUp, Pause, Press
from tests.integration.conftest import AFTER_HOURS, BASE_PORT, HERE, OFFICE_HOURS, sounds_of

pytestmark = pytest.mark.asterisk

# dialplans/hotline.yaml key paths, French: 1 = French, then the main menu.
COMPLAINTS = [Pause(1.5), Press("1"), Pause(1.5), Press("3"), AwaitHangup(90)]
OPERATOR = [Pause(1.5), Press("1"), Pause(1.5), Press("0"), AwaitHangup(90)]


def agents(lab) -> dict[str, dict]:
    return {a["agent"]: a for a in json.loads(lab.ivr("agents", "--format", "json").stdout)}


def test_a_caller_needing_a_skill_reaches_the_agent_who_has_it(hotline):
    hotline.start_engine("--clock", OFFICE_HOURS, "--no-agents-ready")
    hotline.ivr("agent", "login", "alice")          # longest idle, but no quality skill
    time.sleep(1.0)
    hotline.ivr("agent", "login", "dave")           # quality 5
    hotline.start_phones(answer_after=0.5, talk_seconds=1.0)
    call = hotline.call("0611000040", COMPLAINTS)
    assert call.wait(90) == 0
    rec = hotline.call_record("0611000040")
    assert rec["queue"] == "complaints" and rec["agent"] == "dave"


def test_the_longest_idle_agent_is_chosen(hotline):
    hotline.start_engine("--clock", OFFICE_HOURS, "--no-agents-ready")
    hotline.ivr("agent", "login", "carol")
    time.sleep(1.5)
    hotline.ivr("agent", "login", "alice")          # idle for less time than carol
    hotline.start_phones(answer_after=0.5, talk_seconds=1.0)
    call = hotline.call("0611000041", [Pause(1.5), Press("2"), Pause(1.5), Press("0"),
                                       AwaitHangup(90)])          # English, operator
    assert call.wait(90) == 0
    rec = hotline.call_record("0611000041")
    assert rec["agent"] == "carol"
    assert any("longest-idle" in line for line in rec["decision_trace"])


def test_overflow_after_the_wait_keeps_the_callers_age(hotline):
    hotline.start_engine("--clock", OFFICE_HOURS, "--no-agents-ready")
    hotline.ivr("agent", "login", "alice")          # operator only: no quality skill
    hotline.start_phones(only={"alice": 0.5}, talk_seconds=9.0)
    busy = hotline.call("0611000042", OPERATOR)     # alice talks 9 s
    time.sleep(4.5)
    complaint = hotline.call("0611000043", COMPLAINTS)   # overflows to operator after 4 s…
    time.sleep(1.0)
    later = hotline.call("0611000044", OPERATOR)         # …after this one joined operator
    for proc in (busy, complaint, later):
        assert proc.wait(120) == 0
    c, o = hotline.call_record("0611000043"), hotline.call_record("0611000044")
    assert c["agent"] == "alice" and c["queue"] == "complaints"
    assert any("overflow" in line for line in c["decision_trace"])
    assert c["wait_seconds"] > 4.0                   # counted from its first arrival
    c_answer = c["ended_at"] < o["ended_at"]
    assert c_answer, "the overflowed caller kept its age and was served first"


def test_caller_hanging_up_while_waiting_is_abandoned_with_its_wait(hotline):
    hotline.start_engine("--clock", OFFICE_HOURS, "--no-agents-ready")
    hotline.ivr("agent", "login", "alice")
    hotline.start_phones(only={"alice": 0.5}, talk_seconds=8.0)
    busy = hotline.call("0611000045", OPERATOR)
    time.sleep(1.0)
    quitter = hotline.call("0611000046", [Pause(1.5), Press("1"), Pause(1.5), Press("0"),
                                          Pause(3.5), CallerHangsUp()])
    assert quitter.wait(60) == 0 and busy.wait(60) == 0
    rec = hotline.call_record("0611000046")
    assert rec["disposition"] == "abandoned" and rec["queue"] == "operator"
    assert 2.0 < rec["wait_seconds"] < 6.0
    assert rec["agent"] is None
    # While waiting it heard its position and estimated wait (every 3 s in this queue).
    announced = [e for e in hotline.call_events(rec["call_id"]) if e["kind"] == "announce"]
    assert announced and announced[0]["position"] == 1


def test_a_phone_busy_with_another_call_is_not_offered(hotline):
    hotline.start_engine("--clock", OFFICE_HOURS)
    hotline.start_phones(answer_after=0.3, talk_seconds=12.0)
    # bob (the most skilled for orders) takes a call that does not come from the engine.
    hotline.sandbox.cli("channel originate PJSIP/bob application Wait 12")
    time.sleep(2.0)
    assert agents(hotline)["bob"]["phone_busy_elsewhere"] is True
    call = hotline.call("0611000047", [Pause(1.5), Press("1"), Pause(1.5), Press("2"),
                                       Pause(1.5), Press("1"), AwaitHangup(90)])
    assert call.wait(90) == 0
    rec = hotline.call_record("0611000047")
    assert rec["queue"] == "orders" and rec["agent"] == "dave"


def test_agents_log_in_pause_and_log_out_from_the_cli_and_their_phone(hotline):
    hotline.start_engine("--clock", OFFICE_HOURS, "--no-agents-ready")
    assert agents(hotline)["alice"]["state"] == "logged-out"
    assert "alice: ready" in hotline.ivr("agent", "login", "alice").stdout
    out = hotline.ivr("agent", "pause", "alice", "--reason", "lunch").stdout
    assert "paused" in out and "lunch" in out
    assert agents(hotline)["alice"]["reason"] == "lunch"
    hotline.ivr("agent", "ready", "alice")
    # From the phone: alice dials *73 (pause) then *72 (log out).
    for code, state in (("*73", "paused"), ("*72", "logged-out")):
        dial = hotline.call("alice", [Pause(1.0), CallerHangsUp()], exten=code)
        dial.wait(30)
        assert agents(hotline)["alice"]["state"] == state
    bad = hotline.ivr("agent", "login", "zoe", check=False)
    assert bad.returncode == 1 and "no agent 'zoe'" in bad.stderr


def test_a_callback_request_keeps_the_place_and_is_honoured(hotline):
    hotline.start_engine("--clock", OFFICE_HOURS, "--no-agents-ready")
    hotline.ivr("agent", "login", "alice")
    hotline.start_phones(only={"alice": 0.5}, talk_seconds=7.0)
    hotline.start_customer_phone(answer_after=0.5, talk_seconds=2.0)
    busy = hotline.call("0611000050", OPERATOR)                 # alice talks 7 s
    time.sleep(1.0)
    asker = hotline.call("0611000051", [Pause(1.5), Press("1"), Pause(1.5), Press("0"),
                                        Pause(2.0), Press("*"), AwaitHangup(30)])
    assert asker.wait(60) == 0 and busy.wait(60) == 0
    # The caller hung up after asking; when alice is free the hotline calls back.
    deadline = time.monotonic() + 40
    while True:
        rec = hotline.call_record("0611000051")
        if rec.get("agent") or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    assert rec["disposition"] == "callback"
    assert rec["agent"] == "alice", rec
    assert "caller answered" in rec["hangup_cause"]
    assert rec["talk_seconds"] > 1.0 and rec["wait_seconds"] > 3.0
    assert any("callback requested" in line for line in rec["decision_trace"])


def _logged_at(log: str, pattern: str) -> datetime:
    """When the engine logged the first line matching `pattern` (its asctime, to the ms)."""
    match = re.search(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*" + pattern, log, re.M)
    assert match, f"no log line matches {pattern!r}"
    return datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f")


def test_an_agent_coming_free_cuts_the_announcement_at_once(lab, tmp_path):
    # Long announcements (a big handle time makes "hold time is 15 minutes") back to back
    # (every 3 s): when alice hangs up on the first caller, the second is mid-announcement,
    # and must be rung at once, not when the announcement ends (~4 s).
    queues = tmp_path / "queues.yaml"
    queues.write_text((HERE / "queues.yaml").read_text().replace(
        "    announce_every_seconds: 3\n", "    announce_every_seconds: 3\n    aht_seconds: 900\n", 1))
    site = Lab(write_config(tmp_path / "config", base_port=BASE_PORT,
                            dialplan=PROJECT / "dialplans/hotline.yaml", crm=tmp_path / "crm.db",
                            sounds=sounds_of(lab), queues_file=queues))
    try:
        site.start_engine("--clock", OFFICE_HOURS, "--no-agents-ready")
        site.ivr("agent", "login", "alice")
        site.start_phones(only={"alice": 0.5}, talk_seconds=9.0)
        first = site.call("0611000057", OPERATOR)
        time.sleep(1.0)
        second = site.call("0611000058", OPERATOR)
        assert first.wait(60) == 0 and second.wait(90) == 0
        waiting = site.call_record("0611000058")
        assert waiting["disposition"] == "answered" and waiting["agent"] == "alice"
        log, cid = site.log_text(), re.escape(waiting["call_id"])
        assert re.search(rf"call {cid}: told position 1", log), log[-3000:]   # it was told
        freed = _logged_at(log, r"call \S+ from \S*0057 ended: answered")
        rung = _logged_at(log, rf"call {cid}: offered to alice")
        assert (rung - freed).total_seconds() < 1.0, (freed, rung)
    finally:
        site.stop_phones()
        site.stop_engine()


def test_a_callback_the_customer_never_answers_has_no_talk_time(hotline):
    # alice picks up the callback, then hears the customer's phone ring until she gives up:
    # that is no conversation, and reports must not count it as talk.
    hotline.start_engine("--clock", OFFICE_HOURS, "--no-agents-ready")
    hotline.ivr("agent", "login", "alice")
    hotline.start_phones(only={"alice": 0.5}, talk_seconds=6.0)
    hotline.start_customer_phone(answer_after=None)
    busy = hotline.call("0611000055", OPERATOR)                 # alice talks 6 s
    time.sleep(1.0)
    asker = hotline.call("0611000056", [Pause(1.5), Press("1"), Pause(1.5), Press("0"),
                                        Pause(2.0), Press("*"), AwaitHangup(30)])
    assert asker.wait(60) == 0 and busy.wait(60) == 0
    deadline = time.monotonic() + 60
    while not (rec := hotline.call_record("0611000056")).get("agent"):
        assert time.monotonic() < deadline, rec
        time.sleep(1.0)
    assert rec["agent"] == "alice" and "did not answer" in rec["hangup_cause"], rec
    assert rec["talk_seconds"] == 0, rec


def test_an_after_hours_callback_promise_survives_a_restart_and_is_kept(lab, tmp_path):
    # Nobody is staffed at night: the operator queue diverts to its callback destination. The
    # request must wait (in the CRM across a restart) and ring back when an agent logs in.
    queues = tmp_path / "queues.yaml"
    queues.write_text((HERE / "queues.yaml").read_text().replace(
        "    announce_every_seconds: 3\n",
        "    announce_every_seconds: 3\n    join_when_no_agents: divert\n"
        "    no_agents_destination: call-back\n", 1))
    night = Lab(write_config(tmp_path / "config", base_port=BASE_PORT,
                             dialplan=PROJECT / "dialplans/hotline.yaml", crm=tmp_path / "crm.db",
                             sounds=sounds_of(lab), queues_file=queues))
    try:
        night.start_engine("--clock", AFTER_HOURS, "--no-agents-ready")
        call = night.call("0611000052", [Pause(1.5), Press("1"), Pause(2.0), Press("1"),
                                         AwaitHangup(60)])
        assert call.wait(90) == 0
        rec = night.call_record("0611000052")
        assert rec["intent"] == "callback" and rec["disposition"] == "callback"
        assert rec["agent"] is None
        assert any("no agents logged in" in line for line in rec["decision_trace"])
        # The caller was told, in their language, that we will call back (not just "goodbye").
        told = [e for e in night.call_events(rec["call_id"]) if e["kind"] == "told"]
        assert [e["sounds"] for e in told] == [[f"{rec['language']}/divert-call-back"]], told
        assert (sounds_of(lab) / rec["language"] / "divert-call-back.wav").is_file()
        night.stop_engine()
        night.start_engine("--clock", AFTER_HOURS, "--no-agents-ready")
        assert "1 callback request(s) from before the restart" in night.log_text()
        night.start_phones(only={"alice": 0.5}, talk_seconds=3.0)
        night.start_customer_phone(answer_after=0.5, talk_seconds=2.0)
        night.ivr("agent", "login", "alice")                  # the morning shift
        deadline = time.monotonic() + 40
        while not (rec := night.call_record("0611000052")).get("agent"):
            assert time.monotonic() < deadline, night.log_text()[-3000:]
            time.sleep(1.0)
        assert rec["agent"] == "alice" and "caller answered" in rec["hangup_cause"]
        assert rec["talk_seconds"] > 1.0
    finally:
        night.stop_phones()
        night.stop_engine()


def test_agent_states_survive_a_restart(hotline):
    """Issue 18.4: a restart used to make every agent ready. dave (paused for lunch) and bob
    (logged out), the only agents with the complaints skill, stay so across a restart: the
    complaint waits, overflows to the operator queue and is taken by someone else."""
    hotline.start_engine("--clock", OFFICE_HOURS, restore_agents=True)
    hotline.ivr("agent", "pause", "dave", "--reason", "lunch")
    hotline.ivr("agent", "logout", "bob")
    paused_at = time.monotonic()
    hotline.stop_engine()
    hotline.start_engine("--clock", OFFICE_HOURS, restore_agents=True)
    now = agents(hotline)
    assert (now["dave"]["state"], now["dave"]["reason"]) == ("paused", "lunch")
    assert now["bob"]["state"] == "logged-out"
    assert now["dave"]["for_seconds"] >= time.monotonic() - paused_at - 1   # since the pause
    assert (now["alice"]["state"], now["carol"]["state"]) == ("ready", "ready")
    assert "agents restored from the CRM: " in hotline.log_text()
    assert "dave paused (lunch) since" in hotline.log_text()

    hotline.start_phones(answer_after=0.5, talk_seconds=1.0)
    call = hotline.call("0611000070", COMPLAINTS)
    assert call.wait(90) == 0
    rec = hotline.call_record("0611000070")
    assert rec["agent"] in ("alice", "carol")
    events = hotline.call_events(rec["call_id"])
    assert any(e["kind"] == "overflow" for e in events)         # nobody able in complaints
    offered = {e["agent"] for e in events if e["kind"] == "offer"}
    assert offered and not offered & {"bob", "dave"}
    after = agents(hotline)
    assert (after["dave"]["state"], after["bob"]["state"]) == ("paused", "logged-out")


def test_queues_say_who_can_take_the_head_caller_and_agents_who_talk(hotline):
    """Issue 18.6: dave (orders, French only) is ready, the English caller waiting in orders
    needs English: the queue shows no agent able to take the head caller, and why. Once
    bob logs in he takes it, and `ivr agents` shows him talking."""
    hotline.start_engine("--clock", OFFICE_HOURS, "--no-agents-ready")
    hotline.ivr("agent", "login", "dave")
    hotline.start_phones(answer_after=0.5, talk_seconds=6.0)
    call = hotline.call("0611000071", [Pause(1.5), Press("2"), Pause(1.5), Press("2"),
                                       Pause(1.5), Press("1"), AwaitHangup(90)])
    deadline = time.monotonic() + 30
    while True:
        orders = next(q for q in json.loads(hotline.ivr("queues", "--format", "json").stdout)
                      if q["queue"] == "orders")
        if orders["waiting"] or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert (orders["waiting"], orders["agents_ready"], orders["head_agents_able"]) == (1, 1, 0)
    assert "en" in orders["head_waits_because"] and "logged out or paused" in orders["head_waits_because"]
    assert agents(hotline)["dave"]["talking"] is False
    hotline.ivr("agent", "login", "bob")
    deadline = time.monotonic() + 15
    while not agents(hotline)["bob"]["talking"]:
        assert time.monotonic() < deadline, "bob never shown talking"
        time.sleep(0.3)
    assert agents(hotline)["bob"]["state"] == "on-call"
    assert agents(hotline)["bob"]["phone_busy_elsewhere"] is False    # our call, not another
    assert call.wait(90) == 0


def test_waking_a_waiting_caller_leaves_asterisks_log_quiet(hotline):
    """Issue 18.11: the wake-up of a caller waiting with music (an agent came free) used
    to log "The FD we were waiting for has something waiting…" as a WARNING every time.
    The AMI wake (ControlPlayback stop) ends the wait without it, and at once."""
    log_file = hotline.sandbox.root / "var/log/asterisk/messages.log"

    def warnings() -> int:
        return log_file.read_text(errors="replace").count("The FD we were waiting for")

    hotline.start_engine("--clock", OFFICE_HOURS, "--no-agents-ready")
    hotline.ivr("agent", "login", "dave")            # orders, but no English: the caller waits
    hotline.start_phones(answer_after=0.3, talk_seconds=1.0)
    before = warnings()
    call = hotline.call("0611000072", [Pause(1.5), Press("2"), Pause(1.5), Press("2"),
                                       Pause(1.5), Press("1"), AwaitHangup(90)])   # English orders
    deadline = time.monotonic() + 30
    while not any(q["waiting"] for q in json.loads(hotline.ivr("queues", "--format", "json").stdout)):
        assert time.monotonic() < deadline, "the caller never waited"
        time.sleep(0.2)
    time.sleep(1.5)                                  # well into the music-on-hold wait
    hotline.ivr("agent", "login", "bob")             # the ACD offers at once: a wake
    assert call.wait(90) == 0
    assert hotline.call_record("0611000072")["agent"] == "bob"
    assert warnings() == before
