"""The web chat's and form's pure rules: sizes, rates per address and session, open chats,
form checks, and when a waiting visitor is told / counted as gone."""
from __future__ import annotations

from ivr.channels.chat_rules import (FormInput, Gate, Limits, RateWindow, check_form, gone,
                                     normalised_phone, unanswered)

TOPICS = ("order", "side effect")


def test_rate_window_slides_and_refusals_do_not_count() -> None:
    window = RateWindow(2)
    assert window.allow("a", 0.0) and window.allow("a", 1.0)
    assert not window.allow("a", 2.0) and not window.allow("a", 59.0)
    assert window.allow("a", 60.5)              # the first left the window
    assert window.allow("b", 2.0)               # keys are apart
    window.forget_idle(200.0)
    assert window._seen == {}


def test_gate_reasons() -> None:
    gate = Gate(Limits(max_message_chars=10, per_address_per_minute=3, per_session_per_minute=2))
    assert gate.check_message("   ", "1.2.3.4", "s1", 0.0) == "empty"
    assert gate.check_message("x" * 11, "1.2.3.4", "s1", 0.0) == "too_long"
    assert gate.check_message("hi", "1.2.3.4", "s1", 0.0) is None
    assert gate.check_message("hi", "1.2.3.4", "s1", 1.0) is None
    assert gate.check_message("hi", "1.2.3.4", "s1", 2.0) == "too_fast"     # per session
    assert gate.check_message("hi", "1.2.3.4", "s2", 2.0) is None           # other session, same address
    assert gate.check_message("hi", "1.2.3.4", "s3", 3.0) == "too_fast"     # per address
    assert gate.check_new_chat(3, "5.6.7.8", 0.0) == "too_many_chats"
    assert gate.check_new_chat(2, "5.6.7.8", 0.0) is None


def test_form_checks() -> None:
    good = FormInput("Anna", "anna@clinic.example", "", "order", "Where is my order?")
    assert check_form(good, TOPICS, 100) == {}
    assert check_form(FormInput("Anna", "", "+49 30 1234567", "order", "x"), TOPICS, 100) == {}
    assert check_form(FormInput("", "", "", "", ""), TOPICS, 100) == {
        "name": "required", "email": "email_or_phone", "topic": "pick_one", "message": "required"}
    assert check_form(FormInput("A", "not an address", "12", "order", "x" * 101), TOPICS, 100) == {
        "email": "invalid", "phone": "invalid", "message": "too_long"}
    assert normalised_phone("+49 (30) 123-4567") == "+49301234567"


def test_waiting_and_leaving() -> None:
    assert not unanswered(100.0, False, 60.0, 159.0)
    assert unanswered(100.0, False, 60.0, 160.0)
    assert not unanswered(100.0, True, 60.0, 500.0)
    assert gone(10.0, False, 30.0, 40.0) and not gone(10.0, True, 30.0, 400.0)
    assert not gone(10.0, False, 30.0, 39.0)
