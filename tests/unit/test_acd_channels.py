"""Channel-neutral tasks in the ACD: capacity per channel, voice vs tasks, fairness, escalation."""
from __future__ import annotations

import pytest

from acd import actions as A
from acd import events as E
from acd.center import ContactCenter
from acd.config import AcdConfig


def center(agents: dict, queues: dict | None = None, **extra) -> ContactCenter:
    queues = queues or {"general": {}}
    return ContactCenter(AcdConfig.from_dict({"agents": agents, "queues": queues, **extra}))


def offers(out: list) -> list[tuple[str, str]]:
    return [(a.task_id, a.agent) for a in out if isinstance(a, A.OfferTask)]


def calls(out: list) -> list[tuple[str, str]]:
    return [(a.call_id, a.agent) for a in out if isinstance(a, A.OfferCall)]


def test_default_capacity_five_emails_then_waits() -> None:
    cc = center({"ann": {}})
    cc.handle(E.AgentLoggedIn("ann"), 0)
    got = [offers(cc.handle(E.TaskArrived(f"m{i}", "general", "email"), 1 + i)) for i in range(6)]
    assert got[:5] == [[(f"m{i}", "ann")] for i in range(5)]
    assert got[5] == []
    assert cc.tasks.agent_load("ann") == (20, 20)
    assert cc.tasks.task_state("m5") == "waiting"
    out = cc.handle(E.TaskEnded("m2"), 10)
    assert offers(out) == [("m5", "ann")]


def test_default_capacity_four_chats_and_mixes() -> None:
    cc = center({"ann": {}})
    cc.handle(E.AgentLoggedIn("ann"), 0)
    got = [offers(cc.handle(E.TaskArrived(f"c{i}", "general", "chat"), 1)) for i in range(5)]
    assert sum(len(g) for g in got) == 4
    cc2 = center({"bob": {}})
    cc2.handle(E.AgentLoggedIn("bob"), 0)
    for i, ch in enumerate(["chat", "chat", "email", "email", "email"]):
        cc2.handle(E.TaskArrived(f"t{i}", "general", ch), 1)
    assert cc2.tasks.agent_load("bob") == (18, 20)  # 2 chats (10) + 2 e-mails (8); third waits
    assert cc2.tasks.task_state("t4") == "waiting"


def test_capacity_configurable_per_agent() -> None:
    cc = center({"ann": {"channels": {"capacity": 10, "cost": {"email": 1}}}})
    cc.handle(E.AgentLoggedIn("ann"), 0)
    n = sum(len(offers(cc.handle(E.TaskArrived(f"m{i}", "general", "email"), 1))) for i in range(12))
    assert n == 10


def test_call_only_profile_never_gets_tasks() -> None:
    cc = center({"ann": {"channels": {"accepts": ["voice"]}}, "bob": {}})
    cc.handle(E.AgentLoggedIn("ann"), 0)
    assert offers(cc.handle(E.TaskArrived("m1", "general", "email"), 1)) == []
    assert calls(cc.handle(E.CallArrived("c1", "general"), 2)) == [("c1", "ann")]
    assert offers(cc.handle(E.AgentLoggedIn("bob"), 3)) == [("m1", "bob")]


def test_profile_without_voice_never_gets_calls() -> None:
    cc = center({"ann": {"channels": {"accepts": ["email"]}}})
    cc.handle(E.AgentLoggedIn("ann"), 0)
    assert calls(cc.handle(E.CallArrived("c1", "general"), 1)) == []
    assert offers(cc.handle(E.TaskArrived("m1", "general", "email"), 2)) == [("m1", "ann")]
    cc.handle(E.TaskEnded("m1"), 3)
    assert cc.voice.position("c1") == 1  # still waiting: e-mail-only agent


def test_email_in_hand_does_not_block_a_call_but_chat_does() -> None:
    cc = center({"ann": {}})
    cc.handle(E.AgentLoggedIn("ann"), 0)
    cc.handle(E.TaskArrived("m1", "general", "email"), 1)
    cc.handle(E.TaskAccepted("m1", "ann"), 2)
    assert calls(cc.handle(E.CallArrived("c1", "general"), 3)) == [("c1", "ann")]

    cc = center({"bob": {}})
    cc.handle(E.AgentLoggedIn("bob"), 0)
    cc.handle(E.TaskArrived("chat1", "general", "chat"), 1)
    assert calls(cc.handle(E.CallArrived("c1", "general"), 2)) == []
    assert cc.held_for_tasks("bob")
    assert calls(cc.handle(E.TaskEnded("chat1"), 3)) == [("c1", "bob")]


def test_voice_interrupts_is_configurable() -> None:
    cc = center({"ann": {"channels": {"voice_interrupts": []}}})
    cc.handle(E.AgentLoggedIn("ann"), 0)
    cc.handle(E.TaskArrived("m1", "general", "email"), 1)
    assert calls(cc.handle(E.CallArrived("c1", "general"), 2)) == []


def test_no_task_offers_during_a_call_and_wrapup() -> None:
    cc = center({"ann": {}}, {"general": {"wrapup_seconds": 30}})
    cc.handle(E.AgentLoggedIn("ann"), 0)
    cc.handle(E.CallArrived("c1", "general"), 1)
    assert offers(cc.handle(E.TaskArrived("m1", "general", "email"), 2)) == []
    cc.handle(E.OfferAnswered("c1", "ann"), 3)
    cc.handle(E.CallEnded("c1"), 60)
    assert offers(cc.handle(E.Tick(), 80)) == []       # in wrap-up
    assert offers(cc.handle(E.Tick(), 91)) == [("m1", "ann")]  # wrap-up over at 90


def test_a_freed_agent_takes_a_waiting_caller_before_tasks() -> None:
    cc = center({"ann": {}})
    cc.handle(E.AgentLoggedIn("ann"), 0)
    cc.handle(E.AgentPaused("ann", "lunch"), 0)
    cc.handle(E.TaskArrived("m1", "general", "email"), 1)
    cc.handle(E.CallArrived("c1", "general"), 2)
    out = cc.handle(E.AgentReady("ann"), 3)
    assert calls(out) == [("c1", "ann")] and offers(out) == []


def test_fairness_by_priority_and_age_across_channels_and_queues() -> None:
    cc = center({"ann": {"skills": {"a": 1, "b": 1}, "channels": {"capacity": 4}}},
                {"qa": {"requirement": "a"}, "qb": {"requirement": "b", "priority": 1}},
                priority_step_seconds=60)
    cc.handle(E.TaskArrived("old-mail", "qa", "email"), 0)
    cc.handle(E.TaskArrived("sms", "qa", "sms"), 50)
    cc.handle(E.TaskArrived("vip", "qb", "email"), 100)   # vscore 40: ahead of sms (50)
    cc.handle(E.TaskArrived("fax", "qa", "fax"), 30)
    order = [offers(cc.handle(E.AgentLoggedIn("ann"), 200))]
    for _ in range(3):
        (tid, _agent), = order[-1]
        order.append(offers(cc.handle(E.TaskEnded(tid), 201)))
    assert [o[0][0] for o in order] == ["old-mail", "fax", "vip", "sms"]


def test_spreads_work_to_the_agent_with_most_free_units() -> None:
    cc = center({"ann": {}, "bob": {}})
    cc.handle(E.AgentLoggedIn("ann"), 0)
    cc.handle(E.AgentLoggedIn("bob"), 0)
    agents = [offers(cc.handle(E.TaskArrived(f"m{i}", "general", "email"), 1 + i))[0][1]
              for i in range(4)]
    assert sorted(agents) == ["ann", "ann", "bob", "bob"]


def test_declined_task_keeps_place_and_agent_rests_until_ready() -> None:
    cc = center({"ann": {}, "bob": {}})
    cc.handle(E.AgentLoggedIn("ann"), 0)
    (tid, first), = offers(cc.handle(E.TaskArrived("m1", "general", "email"), 1))
    other = "bob" if first == "ann" else "ann"
    assert offers(cc.handle(E.TaskDeclined("m1", first, "not mine"), 2)) == []
    assert offers(cc.handle(E.AgentLoggedIn(other), 3)) == [("m1", other)]
    cc.handle(E.TaskArrived("m2", "general", "email"), 4)
    assert cc.tasks.agent_load(first)[0] == 0 and cc.tasks.agent_load(other)[0] == 8
    cc.handle(E.AgentReady(first), 6)
    assert offers(cc.handle(E.TaskArrived("m3", "general", "email"), 7)) == [("m3", first)]


def test_escalation_widen_and_overflow_apply_to_tasks() -> None:
    cc = center({"ann": {"skills": {"fr": 1}}, "bob": {"skills": {"de": 1}}},
                {"fr": {"requirement": "fr", "escalation": [{"after_seconds": 60, "overflow": "de"}]},
                 "de": {"requirement": "de"}})
    cc.handle(E.AgentLoggedIn("bob"), 0)
    assert offers(cc.handle(E.TaskArrived("m1", "fr", "email"), 0)) == []
    assert cc.next_deadline() == 60
    out = cc.handle(E.Tick(), 60)
    assert [a.rule for a in out if isinstance(a, A.Escalated)] == ["overflow"]
    assert offers(out) == [("m1", "bob")]


def test_service_level_near_breach_raises_priority() -> None:
    cc = center({"ann": {"channels": {"capacity": 5}}},
                channels={"service_level_seconds": {"chat": 100}, "near_breach": 0.5,
                          "breach_priority": 3}, priority_step_seconds=60)
    cc.handle(E.TaskArrived("mail", "general", "email"), 0)
    cc.handle(E.TaskArrived("chat", "general", "chat"), 10)
    assert cc.next_deadline() == 60
    out = cc.handle(E.Tick(), 60)
    esc = [a for a in out if isinstance(a, A.Escalated)]
    assert [(a.call_id, a.rule) for a in esc] == [("chat", "service_level")]
    assert cc.tasks.task_priority("chat") == 3
    cc2 = center({"ann": {"channels": {"capacity": 5}}})  # a chat fits (5), mail would too
    cc2.handle(E.TaskArrived("mail", "general", "email"), 0)
    cc2.handle(E.TaskArrived("chat", "general", "chat"), 10)
    assert offers(cc2.handle(E.AgentLoggedIn("ann"), 20)) == [("mail", "ann")]
    # with the boost (−180 s) the chat overtook the older mail
    out = cc.handle(E.AgentLoggedIn("ann"), 61)
    assert offers(out)[0] == ("chat", "ann")


def test_end_of_offered_task_cancels_offer_and_transfer_keeps_arrival() -> None:
    cc = center({"ann": {"skills": {"x": 1}}}, {"general": {}, "pv": {"requirement": "x"}})
    cc.handle(E.AgentLoggedIn("ann"), 0)
    cc.handle(E.TaskArrived("m1", "general", "email"), 0)
    out = cc.handle(E.TaskEnded("m1"), 1)
    assert [type(a) for a in out] == [A.CancelTaskOffer]
    assert cc.tasks.agent_load("ann")[0] == 0
    cc.handle(E.TaskArrived("m2", "general", "email"), 2)
    cc.handle(E.TaskAccepted("m2", "ann"), 3)
    out = cc.handle(E.TaskTransferred("m2", "pv"), 4)
    assert offers(out) == [("m2", "ann")]  # only ann has x; arrival kept


@pytest.mark.parametrize("ev,why", [
    (E.TaskArrived("t", "nope", "email"), "unknown queue"),
    (E.TaskArrived("t", "general", "pigeon"), "channel 'pigeon'"),
    (E.TaskArrived("t", "general", "voice"), "calls go to the call side"),
    (E.TaskArrived("t", "general", "email", required="(("), "bad required expression"),
])
def test_bad_tasks_are_rejected_with_a_reason(ev, why) -> None:
    out = center({"ann": {}}).handle(ev, 0)
    assert len(out) == 1 and isinstance(out[0], A.TaskRejected) and why in out[0].reason


def test_bad_channel_profile_is_refused() -> None:
    with pytest.raises(ValueError, match="voice always takes the whole agent"):
        AcdConfig.from_dict({"agents": {"ann": {"channels": {"cost": {"voice": 3}}}}})
    with pytest.raises(ValueError, match="outside 1-20"):
        AcdConfig.from_dict({"agents": {"ann": {"channels": {"cost": {"chat": 30}}}}})


def test_device_busy_and_hold_are_independent() -> None:
    cc = center({"ann": {}})
    cc.handle(E.AgentLoggedIn("ann"), 0)
    cc.handle(E.TaskArrived("chat", "general", "chat"), 1)   # holds calls
    cc.handle(E.DeviceBusy("ann", True), 2)
    cc.handle(E.DeviceBusy("ann", False), 3)
    assert calls(cc.handle(E.CallArrived("c1", "general"), 4)) == []  # still held by the chat
    assert offers(cc.handle(E.TaskArrived("m", "general", "email"), 5)) == [("m", "ann")]


def test_agents_yaml_channels_reach_the_acd_and_ivr_check(tmp_path) -> None:
    """`channels:` under an agent in agents.yaml: through Settings.acd_config() and `ivr check`."""
    import shutil
    from pathlib import Path

    from ivr.config import load_settings
    project = Path(__file__).resolve().parents[2]
    for name in ("engine.yaml", "agents.yaml", "queues.yaml"):
        shutil.copy(project / "config" / name, tmp_path / name)
    agents = (tmp_path / "agents.yaml").read_text().replace(
        "    skills: {fr: 5, en: 3, pv: 4, medinfo: 4}\n",
        "    skills: {fr: 5, en: 3, pv: 4, medinfo: 4}\n    channels: {accepts: [voice, email], capacity: 10}\n", 1)
    (tmp_path / "agents.yaml").write_text(agents)
    acd = load_settings(tmp_path / "engine.yaml").acd_config()
    alice = next(a for a in acd.agents if a.name == "alice")
    assert alice.channels.capacity == 10 and alice.channels.accepts == ["voice", "email"]
    assert next(a for a in acd.agents if a.name == "bob").channels.capacity == 20
    (tmp_path / "agents.yaml").write_text(agents.replace("capacity: 10", "capacity: 0"))
    with pytest.raises(Exception, match="capacity"):
        load_settings(tmp_path / "engine.yaml").acd_config()
