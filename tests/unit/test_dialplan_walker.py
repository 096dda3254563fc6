"""The sans-IO walker, driven with scripted caller results and an injected clock."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.dialplan import (TERMINAL, AskDigit, AskDigits, Hangup, LookupCaller, Play, Route,
                          Transfer, Walker, load_plan, load_plan_text)

ROOT = Path(__file__).resolve().parents[2]
HOTLINE = load_plan(ROOT / "dialplans/hotline.yaml")
MINIMAL = load_plan(ROOT / "dialplans/minimal.yaml")
PARIS = ZoneInfo("Europe/Paris")
TUESDAY_10H = datetime(2026, 11, 24, 10, 0, tzinfo=PARIS)  # open
TUESDAY_22H = datetime(2026, 11, 24, 22, 0, tzinfo=PARIS)  # closed
CHRISTMAS = datetime(2026, 12, 25, 10, 0, tzinfo=PARIS)    # Friday, holiday


def walk(plan, results, variables=None, now=TUESDAY_10H):
    """Run the walker, feeding `results` in order; return (walker, instructions)."""
    w = Walker(plan, variables or {"caller": "+33600000001"}, now=lambda: now)
    seen = [w.start()]
    for r in results:
        seen.append(w.send(r))
    return w, seen


# ---- minimal plan ----

def test_minimal_key_1_routes_to_orders() -> None:
    w, seen = walk(MINIMAL, ["1"])
    assert seen[0] == AskDigit(("fr/main",), 3.0, frozenset({"0", "1", "9"}))
    assert seen[-1] == Route("orders", "order", 0, None, None, "main".replace("main", "orders"))
    assert w.finished and w.route_kind == "dtmf"
    assert w.path == [{"node": "main", "type": "menu"}, {"node": "main", "input": "key", "key": "1"},
                      {"node": "orders", "type": "route"}]


def test_a_walk_frees_itself_without_the_garbage_collector() -> None:
    """Thousands of calls an hour: each walk must go when its call does, not wait for a
    full collection (the engine's collector rarely runs its oldest generation)."""
    import gc
    import weakref
    gc.disable()
    try:
        done, _ = walk(MINIMAL, ["1"])                         # finished: closed by itself
        hung_up = Walker(MINIMAL, {"caller": "+33600000001"}, now=lambda: TUESDAY_10H)
        hung_up.start()                                        # the caller left mid-menu
        hung_up.close()
        with pytest.raises(RuntimeError, match="closed"):
            hung_up.send("1")
        refs = [weakref.ref(done), weakref.ref(hung_up)]
        del done, hung_up
        assert [r() for r in refs] == [None, None]             # freed by reference counting
    finally:
        gc.enable()


def test_minimal_timeouts_then_operator() -> None:
    w, seen = walk(MINIMAL, [None, None, None])  # retries: 3 -> three tries in all
    assert all(isinstance(i, AskDigit) for i in seen[:3])
    assert seen[-1].queue == "operator" and w.route_kind == "fallback"
    assert [e.get("input") for e in w.path if "input" in e] == ["timeout"] * 3 + ["fallback"]


def test_minimal_invalid_key_retries_with_invalid_prompt() -> None:
    plan = load_plan_text((ROOT / "dialplans/minimal.yaml").read_text().replace(
        "    retries: 3\n",
        "    retries: 3\n    invalid_prompt: {fr: Non, en: 'No'}\n    no_input_prompt: {fr: Rien, en: Nothing}\n"))
    w, seen = walk(plan, ["5", None])
    assert seen[1].prompts == ("fr/main-invalid", "fr/main")
    assert seen[2].prompts == ("fr/main-noinput", "fr/main")
    assert w.path[1] == {"node": "main", "input": "invalid", "key": "5"}
    w.send("0")
    assert w.result.queue == "operator" and w.route_kind == "dtmf"


def test_initial_language_variable() -> None:
    assert Walker(MINIMAL, {"language": "en"}, now=lambda: TUESDAY_10H).language == "en"
    assert Walker(MINIMAL, {"language": "de"}, now=lambda: TUESDAY_10H).language == "fr"  # undeclared: default
    w, seen = walk(MINIMAL, [], variables={"language": "en"})
    assert seen[0].prompts == ("en/main",)


def test_empty_key_counts_as_timeout() -> None:
    w, seen = walk(MINIMAL, [""])
    assert w.path[1] == {"node": "main", "input": "timeout"}


def test_multi_digit_answer_is_invalid() -> None:
    w, seen = walk(MINIMAL, ["10"])
    assert w.path[1] == {"node": "main", "input": "invalid", "key": "10"}


def test_minimal_safety_key() -> None:
    w, seen = walk(MINIMAL, ["9"])
    assert seen[-1] == Route("pharmacovigilance", "adverse-event", 100, None, None, "safety", True)
    assert {"node": "main", "input": "safety", "key": "9"} in w.path


def test_the_clock_is_required_never_the_wall_clock() -> None:
    # an hours node must decide on the time its owner gives, so there is no default clock
    with pytest.raises(TypeError, match="now"):
        Walker(HOTLINE, {"caller": "+33600000001"})  # type: ignore[call-arg]


def test_send_protocol_errors() -> None:
    w = Walker(MINIMAL, {}, now=lambda: TUESDAY_10H)
    with pytest.raises(RuntimeError):
        w.send("1")
    w.start()
    with pytest.raises(RuntimeError):
        w.start()
    with pytest.raises(TypeError):
        w.send(1)  # keys are strings
    w.send("1")
    with pytest.raises(RuntimeError, match="over"):
        w.send(None)


# ---- hotline plan ----

def test_hotline_language_then_medinfo_in_english() -> None:
    w, seen = walk(HOTLINE, ["2", None, "1", "1"])
    assert seen[0].prompts == ("fr/welcome", "en/welcome")
    assert seen[1] == LookupCaller("+33600000001")
    assert seen[2].prompts == ("en/main-menu",)
    assert seen[3].prompts == ("en/medinfo-menu",)
    assert seen[-1] == Route("medinfo", "medical-question", 20, "en", None,
                             "medinfo-medical")
    assert w.language == "en" and w.variables["language"] == "en"
    assert w.variables["contact_type"] == "unknown"


@pytest.mark.parametrize("key, queue, intent", [
    ("1", "medinfo", "medical-question"), ("3", "complaints", "complaint"),
    ("0", "operator", "operator"), ("9", "pharmacovigilance", "adverse-event")])
def test_hotline_main_menu_choices(key, queue, intent) -> None:
    extra = {"1": ["1"], "9": [None]}.get(key, [])  # medinfo sub-menu / pv "connecting" Play
    w, seen = walk(HOTLINE, ["1", None, key] + extra)
    assert (w.result.queue, w.result.intent) == (queue, intent)


def test_hotline_language_timeout_keeps_default() -> None:
    w, seen = walk(HOTLINE, [None, None, None, "0"])
    assert isinstance(seen[2], LookupCaller)
    assert seen[3].prompts == ("fr/main-menu",)
    assert seen[-1].required == "fr" and w.language == "fr"


def test_safety_key_from_nested_menu() -> None:
    w, seen = walk(HOTLINE, ["1", None, "2", "9"])  # main > orders-menu > 9
    assert seen[-2].prompts == ("fr/orders-menu",)
    assert seen[-1] == Play(("fr/adverse-event",))
    w.send(None)
    assert w.result == Route("pharmacovigilance", "adverse-event", 100, None, None,
                             "adverse-event", True)


def test_after_hours_safety_key_still_works() -> None:
    w, seen = walk(HOTLINE, ["1", None, "9", None], now=TUESDAY_22H)
    assert seen[2].prompts == ("fr/closed-menu",)
    assert w.result.queue == "pharmacovigilance"
    assert {"node": "office-hours", "open": False,
            "local_time": TUESDAY_22H.isoformat()} in w.path


def test_after_hours_callback_no_loop() -> None:
    w, seen = walk(HOTLINE, ["1", None, None, None], now=TUESDAY_22H)
    assert isinstance(seen[-1], Play) and seen[-1].prompts == ("fr/callback",)
    w.send(None)
    assert (w.result.queue, w.result.intent) == ("operator", "callback")
    assert w.route_kind == "fallback"


def test_holiday_is_closed() -> None:
    w, seen = walk(HOTLINE, ["1", None], now=CHRISTMAS)
    assert seen[-1].prompts == ("fr/closed-menu",)


@pytest.mark.parametrize("utc_hour, minute, is_open",
                         [(7, 0, False), (7, 45, True), (17, 15, True), (17, 45, False)])
def test_hours_use_plan_time_zone(utc_hour: int, minute: int, is_open: bool) -> None:
    # Tuesday in November: Paris = UTC+1, open 08:30-18:30 local = 07:30-17:30 UTC.
    now = datetime(2026, 11, 24, utc_hour, minute, tzinfo=timezone.utc)
    w, seen = walk(HOTLINE, ["1", None], now=now)
    assert seen[-1].prompts == (("fr/main-menu",) if is_open else ("fr/closed-menu",))


def test_naive_clock_is_utc() -> None:
    w, seen = walk(HOTLINE, ["1", None], now=datetime(2026, 11, 24, 7, 45))  # 08:45 Paris
    assert seen[-1].prompts == ("fr/main-menu",)


def test_known_pharmacist_skips_to_orders_with_preferred_agent() -> None:
    w, seen = walk(HOTLINE, ["1", {"type": "pharmacist", "preferred_agent": "alice", "id": 7}])
    assert seen[-1] == Route("orders", "order", 10, "fr", "alice", "orders")
    assert w.variables["contact_type"] == "pharmacist"
    assert w.variables["contact_id"] == "7"
    assert w.route_kind == "default"  # no menu key decided the route


@pytest.mark.parametrize("contact, ctype", [
    (None, "unknown"), ({"type": "doctor"}, "doctor"), ({"type": "patient"}, "patient"),
    ({"type": "student"}, "student"), ({"type": "alien"}, "other"), ({}, "unknown"),
])
def test_lookup_branches_default(contact, ctype) -> None:
    w, seen = walk(HOTLINE, ["1", contact])
    assert w.variables["contact_type"] == ctype
    assert seen[-1].prompts == ("fr/main-menu",)


def test_lookup_without_number_skips_crm() -> None:
    w, seen = walk(HOTLINE, ["1"], variables={"dnis": "100"})
    assert seen[-1].prompts == ("fr/main-menu",)


def test_preferred_agent_ignored_when_disabled() -> None:
    plan = load_plan_text((ROOT / "dialplans/hotline.yaml").read_text().replace(
        "preferred_agent: true", "preferred_agent: false"))
    w, seen = walk(plan, ["1", {"type": "pharmacist", "preferred_agent": "alice"}])
    assert seen[-1].agent is None


def test_collect_valid_order_number() -> None:
    w, seen = walk(HOTLINE, ["1", None, "2", "2", "12345678#"])
    assert seen[4] == AskDigits(("fr/order-number",), 10.0, 8, 8, "#")
    assert seen[-1].intent == "delivery" and w.variables["order_number"] == "12345678"


def test_collect_invalid_then_on_invalid() -> None:
    w, seen = walk(HOTLINE, ["1", None, "2", "2", "123#", None])
    assert seen[5].prompts == ("fr/order-number-invalid", "fr/order-number")
    assert seen[-1].intent == "order" and "order_number" not in w.variables
    assert [e["input"] for e in w.path if e.get("node") == "order-number" and "input" in e] == \
        ["invalid", "timeout"]


def test_collect_pattern_and_default_fallback() -> None:
    plan = load_plan_text("""
name: c
languages: [fr]
default_language: fr
start: pin
policy: {human_route: operator, safety_route: safety}
nodes:
  pin: {type: collect, prompt: {fr: P}, variable: pin, min_length: 4, max_length: 4,
        pattern: "^1", retries: 2, next: ok}
  ok: {type: hangup, prompt: {fr: Merci}}
  operator: {type: route, queue: operator, intent: operator}
  safety: {type: route, queue: pharmacovigilance, intent: adverse-event}
""")
    w, seen = walk(plan, ["2345#", "1234#"])
    assert seen[-1] == Hangup(("fr/ok",), "ok") and w.variables["pin"] == "1234"
    w, seen = walk(plan, ["2345", "12a4"])
    assert seen[-1].queue == "operator" and w.route_kind == "fallback"


def test_summer_time_zone() -> None:
    # July: Paris = UTC+2; 06:45 UTC = 08:45 local (open), 16:45 UTC = 18:45 (closed).
    for hour, prompt in ((6, "fr/main-menu"), (16, "fr/closed-menu")):
        now = datetime(2027, 7, 6, hour, 45, tzinfo=timezone.utc)
        assert walk(HOTLINE, ["1", None], now=now)[1][-1].prompts == (prompt,)


def test_saturday_morning_and_sunday() -> None:
    sat = datetime(2026, 11, 28, 11, 0, tzinfo=PARIS)
    sun = datetime(2026, 11, 29, 11, 0, tzinfo=PARIS)
    assert walk(HOTLINE, ["1", None], now=sat)[1][-1].prompts == ("fr/main-menu",)
    assert walk(HOTLINE, ["1", None], now=sun)[1][-1].prompts == ("fr/closed-menu",)


def test_menu_retry_counts_follow_policy() -> None:
    # main-menu has no retries of its own: policy.max_retries 3 means three tries, not four.
    w, seen = walk(HOTLINE, ["1", None] + [None] * 3)
    assert sum(1 for i in seen if isinstance(i, AskDigit) and "fr/main-menu" in i.prompts) == 3
    assert seen[-1].queue == "operator" and w.route_kind == "fallback"
    assert seen[3].prompts == ("fr/no-input", "fr/main-menu")


CONDITIONS = """
name: cond
languages: [fr, en]
default_language: fr
start: c
policy: {human_route: operator, safety_route: safety}
nodes:
  c: {type: condition, if: 'tier in ["gold", "vip"] and int_calls >= "10"', then: vip, else: t}
  t: {type: transfer, destination: "+33123456789", prompt: {fr: T, en: T}}
  vip: {type: route, queue: operator, intent: vip, priority: 50, agent: bob}
  operator: {type: route, queue: operator, intent: operator}
  safety: {type: route, queue: pharmacovigilance, intent: adverse-event}
"""


def test_condition_and_transfer() -> None:
    plan = load_plan_text(CONDITIONS)
    w, seen = walk(plan, [], variables={"tier": "gold", "int_calls": "12"})
    assert seen[-1] == Route("operator", "vip", 50, None, "bob", "vip")
    w, seen = walk(plan, [None], variables={"tier": "gold", "int_calls": "9"})
    assert seen == [Play(("fr/t",)), Transfer("+33123456789", "t")]


def test_loop_guard_falls_back_to_human() -> None:
    plan = load_plan_text(CONDITIONS.replace("else: t}", "else: c}"))
    w, seen = walk(plan, [])
    assert seen[-1].queue == "operator" and w.route_kind == "fallback"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.sampled_from(list("0123456789*#")),
                          st.text("0123456789#", max_size=10)), max_size=40),
       st.integers(0, 23), st.booleans())
def test_any_caller_behaviour_terminates(inputs, hour, known) -> None:
    """Whatever the caller does, the walk ends at a terminal in bounded steps."""
    w = Walker(HOTLINE, {"caller": "+33600000001"},
               now=lambda: datetime(2026, 11, 24, hour, 0, tzinfo=PARIS))
    instr = w.start()
    feed = iter(inputs)
    for _ in range(200):
        if isinstance(instr, TERMINAL):
            break
        if isinstance(instr, LookupCaller):
            instr = w.send({"type": "pharmacist"} if known else None)
        elif isinstance(instr, Play):
            instr = w.send(None)
        else:
            instr = w.send(next(feed, None))
    assert isinstance(instr, TERMINAL) and w.finished
    assert w.route_kind in ("dtmf", "default", "fallback")
