"""YAML dialplans through real Asterisk: retries, the safety key, hours, known callers, and a
broken plan saved while calls are live."""
from __future__ import annotations

import time
from datetime import datetime

import pytest

from hotline_lab.sipp import AwaitHangup, Pause, Press
from tests.integration.conftest import AFTER_HOURS, OFFICE_HOURS

pytestmark = pytest.mark.asterisk


def answer_time(rec: dict) -> float:
    return datetime.fromisoformat(rec["ended_at"]).timestamp() - rec["talk_seconds"]


def test_invalid_keys_reach_a_human_after_the_retry_limit(engine):
    engine.start_phones(answer_after=0.5, talk_seconds=1.0)
    call = engine.call("0611000020", [Pause(1.0), Press("5"), Pause(1.0), Press("7"), Pause(1.0),
                                      Press("5"), AwaitHangup(60)])
    assert call.wait(90) == 0
    rec = engine.call_record("0611000020")
    invalid = [s["key"] for s in rec["path"] if s.get("input") == "invalid"]
    assert invalid == ["5", "7", "5"]
    # retries: 3 means three tries: the third invalid key goes straight to a person, the
    # menu is not played a fourth time (which would have added a timeout here).
    asked = [s["input"] for s in rec["path"] if s["node"] == "main" and "input" in s]
    assert asked == ["invalid", "invalid", "invalid", "fallback"], rec["path"]
    assert rec["queue"] == "operator" and rec["route"] == "fallback"
    assert rec["disposition"] == "answered"


def test_safety_key_from_a_nested_menu_goes_to_pharmacovigilance_first(hotline):
    hotline.start_engine("--clock", OFFICE_HOURS, "--no-agents-ready")
    hotline.ivr("agent", "login", "alice")            # the only agent: pv and medinfo
    hotline.start_phones(only={"alice": 0.5}, talk_seconds=10.0)
    medinfo = [Pause(1.5), Press("1"), Pause(1.5), Press("1"), Pause(1.5), Press("1"),
               AwaitHangup(90)]
    first = hotline.call("0611000021", medinfo)           # alice takes it and talks 10 s
    time.sleep(1.0)
    waiting = hotline.call("0611000022", medinfo)         # waits for alice in medinfo
    time.sleep(2.0)
    safety = hotline.call("0611000023", [Pause(1.5), Press("1"), Pause(1.5), Press("1"),
                                         Pause(1.5), Press("9"), AwaitHangup(90)])
    for proc in (first, waiting, safety):
        assert proc.wait(120) == 0
    pv, medinfo_rec = hotline.call_record("0611000023"), hotline.call_record("0611000022")
    assert pv["queue"] == "pharmacovigilance" and pv["adverse_event"]
    assert pv["priority"] == 100 and pv["route"] == "dtmf"
    assert [s["node"] for s in pv["path"] if s.get("input") == "safety"] == ["medinfo-menu"]
    assert pv["agent"] == "alice" and medinfo_rec["agent"] == "alice"
    # The adverse-event caller arrived later but reached alice first.
    assert answer_time(pv) < answer_time(medinfo_rec)


def test_after_hours_offers_callback_and_still_takes_adverse_events(hotline):
    hotline.start_engine("--clock", AFTER_HOURS)
    hotline.start_phones(answer_after=0.5, talk_seconds=1.0)
    callback = hotline.call("0611000024", [Pause(1.5), Press("1"), Pause(2.0), Press("1"),
                                           AwaitHangup(60)])
    assert callback.wait(90) == 0
    safety = hotline.call("0611000025", [Pause(1.5), Press("2"), Pause(2.0), Press("9"),
                                         AwaitHangup(60)])
    assert safety.wait(90) == 0
    cb, pv = hotline.call_record("0611000024"), hotline.call_record("0611000025")
    assert "closed-menu" in [s["node"] for s in cb["path"]]
    assert cb["intent"] == "callback"
    assert pv["queue"] == "pharmacovigilance" and pv["language"] == "en"
    assert pv["agent"] in ("alice", "carol") and pv["disposition"] == "answered"


def test_known_pharmacist_skips_the_menu(hotline, tmp_path):
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("name,type,numbers,preferred_agent\n"
                        "Pharmacie du Centre,pharmacist,0611000026,dave\n")
    hotline.ivr("contacts", "import", str(contacts))
    hotline.start_engine("--clock", OFFICE_HOURS)
    hotline.start_phones(answer_after=0.5, talk_seconds=1.0)
    call = hotline.call("0611000026", [Pause(1.5), Press("1"), AwaitHangup(60)])
    assert call.wait(90) == 0
    rec = hotline.call_record("0611000026")
    nodes = [s["node"] for s in rec["path"]]
    assert "main-menu" not in nodes
    assert rec["queue"] == "orders" and rec["route"] == "default"
    assert {"node": "identify", "input": "lookup", "contact_type": "pharmacist"} in rec["path"]
    # Their usual agent, dave, takes it although bob is the most skilled for orders.
    assert rec["agent"] == "dave"
    assert any("preferred agent dave is ready" in line for line in rec["decision_trace"])


def test_broken_plan_saved_during_a_call_keeps_the_good_one(hotline):
    hotline.start_engine("--clock", OFFICE_HOURS)
    hotline.start_phones(answer_after=0.5, talk_seconds=1.0)
    live = hotline.call("0611000027", [Pause(1.5), Press("1"), Pause(4.0), Press("0"),
                                       AwaitHangup(60)])
    time.sleep(2.5)                                   # the caller is in the main menu
    good = hotline.plan_path.read_text()
    broken = good.replace('"2": orders-menu', '"2": no-such-node')
    assert broken != good
    hotline.plan_path.write_text(broken)
    reload = hotline.ivr("reload", check=False)
    assert reload.returncode == 1 and "invalid" in reload.stderr
    bad_line = broken.splitlines().index(next(l for l in broken.splitlines()
                                              if "no-such-node" in l)) + 1
    # The engine's reply carries the problem itself, printed by `ivr reload`.
    assert f"{hotline.plan_path}:{bad_line}:" in reload.stderr, reload.stderr
    assert "no-such-node" in reload.stderr
    assert live.wait(90) == 0
    later = hotline.call("0611000028", [Pause(1.5), Press("1"), Pause(2.0), Press("0"),
                                        AwaitHangup(60)])
    assert later.wait(90) == 0
    first, second = hotline.call_record("0611000027"), hotline.call_record("0611000028")
    assert first["disposition"] == second["disposition"] == "answered"
    assert first["plan_version"] == second["plan_version"]     # still the good plan
    check = hotline.ivr("check", str(hotline.plan_path), check=False)
    assert check.returncode == 1
    line = broken.splitlines().index(next(l for l in broken.splitlines() if "no-such-node" in l)) + 1
    assert f"{hotline.plan_path}:{line}:" in check.stdout + check.stderr
    assert "no-such-node" in check.stdout + check.stderr
    assert "reload refused" in hotline.log_text()
    # The engine says which settings file it read, and where its relative paths start.
    assert (f"settings read from {hotline.config_path.resolve()} (relative paths start from "
            f"{hotline.config_path.resolve().parent})") in hotline.log_text()
