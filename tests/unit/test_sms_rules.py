"""The SMS channel's pure rules: Asterisk's hand-over, untrusted bodies, the webhook's
payload and signature, reply limits."""
from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.channels.sms_rules import (BadSms, decode_body, parse_spooled, parse_webhook,
                                    reply_problem, sender_number, split_reply, signature, signature_ok,
                                    spooled_key)

KEY = spooled_key("abc-123@10.0.0.1")


def spooled(sender: str, to: str, body: bytes) -> str:
    enc = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return ":".join((enc(sender.encode()), enc(to.encode()), enc(body)))


def test_spooled_message_keeps_commas_line_breaks_and_the_number() -> None:
    sms = parse_spooled(KEY, spooled('"Anna" <sip:+4930123456@10.0.0.1:5060>', "<sip:+4930999@hotline>",
                                     "Hello, I need help:\nmy order (42)".encode()), 2000)
    assert sms.message_id == f"sip:{KEY}"
    assert sms.sender == "+4930123456" and sms.recipient == "+4930999"
    assert sms.text == "Hello, I need help:\nmy order (42)"
    assert sms.notes == ()


def test_invalid_utf8_becomes_replacement_characters_with_a_note() -> None:
    sms = parse_spooled(KEY, spooled("sip:0301@h", "sip:1@h", b"caf\xe9 \xff ok"), 2000)
    assert sms.text == "caf\ufffd \ufffd ok"
    assert any("not valid UTF-8" in n for n in sms.notes)


def test_long_body_is_cut_with_a_note_and_controls_are_dropped() -> None:
    text, notes = decode_body(b"a\x00b\x1b" + b"x" * 50, 10)
    assert text == "ab" + "x" * 8
    assert any("control characters" in n for n in notes)
    assert any("only the first 10" in n for n in notes)


@given(st.binary(max_size=400))
def test_any_bytes_decode_without_error_within_the_limit(raw: bytes) -> None:
    text, _ = decode_body(raw, 100)
    assert len(text) <= 100
    text.encode("utf-8")      # always storable


@pytest.mark.parametrize("value, why", [
    ("bm90", "expected from:to:body"),
    ("!!:eA==:eA==", "not base64"),
])
def test_broken_hand_over_is_refused_with_the_reason(value: str, why: str) -> None:
    with pytest.raises(BadSms, match=why):
        parse_spooled(KEY, value, 100)


def test_a_key_that_is_no_md5_is_refused() -> None:
    with pytest.raises(BadSms, match="MD5"):
        parse_spooled("../etc", spooled("sip:1@h", "sip:2@h", b"x"), 100)


@pytest.mark.parametrize("raw, number", [
    ('"Anna" <sip:+49 30 123@h>', "+49"),     # a SIP user ends at the first space: no guessing
    ("<sip:+4930123;user=phone@h>", "+4930123"),
    ("tel:+4930123", "+4930123"),
    ("+49 (30) 123-4", "+49301234"),
    ("", ""),
])
def test_sender_number(raw: str, number: str) -> None:
    assert sender_number(raw) == number


def test_webhook_payload_is_parsed_and_namespaced_by_gateway_id() -> None:
    sms = parse_webhook({"from": "+4930123", "to": "+4930999", "text": "Hi", "id": "m-1"}, 100)
    assert (sms.message_id, sms.sender, sms.recipient, sms.text) == ("gw:m-1", "+4930123", "+4930999", "Hi")


def test_webhook_lone_surrogates_are_replaced_not_crashing() -> None:
    sms = parse_webhook({"from": "+4930123", "text": "a\ud800b", "id": "x"}, 100)
    assert sms.text.startswith("a\ufffd") and sms.text.endswith("b")
    assert any("not valid UTF-8" in n for n in sms.notes)
    sms.text.encode("utf-8")


@pytest.mark.parametrize("payload, why", [
    ([], "JSON object"),
    ({"from": "+1", "text": "x"}, "id"),
    ({"from": "", "id": "1"}, "from"),
    ({"from": "abc", "id": "1"}, "no phone number"),
    ({"from": "+1", "id": "1", "text": 5}, "string"),
    ({"from": "+1", "id": "x" * 201}, "longer"),
])
def test_webhook_bad_payloads_say_what_is_wrong(payload: object, why: str) -> None:
    with pytest.raises(BadSms, match=why):
        parse_webhook(payload, 100)


def test_signature_checks_the_exact_body() -> None:
    body = b'{"from":"+1","id":"1"}'
    good = signature(b"s3cret", body)
    assert signature_ok(b"s3cret", body, good)
    assert not signature_ok(b"s3cret", body + b" ", good)
    assert not signature_ok(b"other", body, good)
    assert not signature_ok(b"s3cret", body, None)


def test_reply_limits() -> None:
    assert reply_problem("  ", 10) == "the reply is empty"
    assert "at most 10" in (reply_problem("x" * 11, 10) or "")
    assert reply_problem("ok", 10) is None


def test_a_short_reply_is_one_message() -> None:
    assert split_reply("  Bonjour  ", 40) == ["Bonjour"]


def test_a_long_reply_is_cut_at_words_into_labelled_parts() -> None:
    text = " ".join(f"mot{i}" for i in range(60))
    parts = split_reply(text, 60)
    assert len(parts) > 1 and all(len(p) <= 60 for p in parts)
    assert [p.rsplit(" ", 1)[1] for p in parts] == [f"({i}/{len(parts)})" for i in range(1, len(parts) + 1)]
    words = [w for p in parts for w in p.rsplit(" ", 1)[0].split()]
    assert words == text.split()                       # nothing lost, nothing cut inside a word


def test_a_word_longer_than_a_part_is_cut_inside() -> None:
    parts = split_reply("x" * 100, 40)
    assert "".join(p.rsplit(" ", 1)[0] for p in parts) == "x" * 100
    assert all(len(p) <= 40 for p in parts)
