"""The e-mail channel's pure rules and its MIME parsing (no servers)."""
from __future__ import annotations

from email.message import EmailMessage

import pytest

from ivr.channels.mail_rules import (Throttle, attachment_refusal, no_ack_reason, reply_references,
                                     reply_subject, safety_hit, thread_candidates)
from ivr.channels.mime import parse_mail, sanitise_html


@pytest.mark.parametrize("headers,return_path,why", [
    ({"auto-submitted": "auto-replied"}, None, "Auto-Submitted"),
    ({"auto-submitted": "auto-generated"}, "<a@b>", "Auto-Submitted"),
    ({"precedence": "bulk"}, None, "Precedence: bulk"),
    ({"precedence": "List"}, None, "Precedence: list"),
    ({"precedence": "junk"}, None, "Precedence: junk"),
    ({}, "<>", "empty Return-Path"),
    ({}, "", "empty Return-Path"),
    ({"list-id": "<news.example>"}, None, "mailing-list"),
])
def test_loops_are_recognised(headers, return_path, why) -> None:
    assert why in (no_ack_reason(headers, return_path) or "")


def test_a_person_gets_an_acknowledgement() -> None:
    assert no_ack_reason({"auto-submitted": "no", "precedence": "first-class"}, "<anna@x>") is None
    assert no_ack_reason({}, None) is None


def test_thread_candidates_in_reply_to_first_then_newest_reference() -> None:
    assert thread_candidates("<c@x>", "<a@x> <b@x>\r\n <c@x>") == ["<c@x>", "<b@x>", "<a@x>"]
    assert thread_candidates(None, None) == []
    refs = reply_references("<a@x> <b@x>", "<c@x>")
    assert refs == "<a@x> <b@x> <c@x>"
    assert len(reply_references(" ".join(f"<{i}@x>" for i in range(40)), "<z@x>").split()) == 20


def test_reply_subject_carries_the_reference_once() -> None:
    assert reply_subject("Dose", "EM-1") == "Re: Dose [EM-1]"
    assert reply_subject("Re: Dose [EM-1]", "EM-1") == "Re: Dose [EM-1]"


def test_throttle_per_sender_window() -> None:
    t = Throttle(3, 60)
    assert [t.allow("A@x", s) for s in (0, 1, 2, 3)] == [True, True, True, False]
    assert t.allow("b@x", 3)                   # another sender is not affected
    assert t.allow("a@x", 60.5)                # the first one left the window


def test_safety_phrases_fold_case_accents_and_spaces() -> None:
    phrases = {"en": ["side effect"], "fr": ["effet indésirable"]}
    assert safety_hit("I had a  SIDE\n effect", phrases).language == "en"
    assert safety_hit("un effet INDESIRABLE grave", phrases).language == "fr"
    assert safety_hit("nothing to report", phrases) is None


def test_fifty_megabyte_attachment_refused_with_reason() -> None:
    why = attachment_refusal(50_000_000, 10_000_000)
    assert why and "50.0 MB" in why and "10.0 MB" in why
    assert attachment_refusal(10_000_000, 10_000_000) is None


def test_sanitiser_keeps_text_drops_scripts_remote_images_and_handlers() -> None:
    out = sanitise_html('<div style="x" onmouseover="a()"><b>hi</b><img src="https://t/p.gif">'
                        '<iframe src="https://evil"></iframe><script>x()</script>'
                        '<a href="https://ok.example">ok</a><a href="javascript:y()">bad</a></div>')
    assert "<b>hi</b>" in out and 'href="https://ok.example"' in out
    for bad in ("<img", "<iframe", "<script", "x()", "onmouseover", "style=", "javascript"):
        assert bad not in out


def test_parse_never_raises_on_garbage() -> None:
    for raw in (b"", b"\x00\xff\xfe", b"Subject: =?bogus?Q?x?=\r\n\r\nbody",
                b"Content-Type: multipart/mixed\r\n\r\nno boundary at all"):
        parsed = parse_mail(raw, 1000)
        assert parsed.message_id.startswith("<sha256-")    # dedupe still works without an id


def test_parse_plain_html_and_attachments() -> None:
    m = EmailMessage()
    m["From"] = "Dr Who <WHO@Tardis.example>"
    m["Message-ID"] = "<1@tardis.example>"
    m["Subject"] = "Hello"
    m.set_content("plain body")
    m.add_alternative("<p>html <script>x</script>body</p>", subtype="html")
    m.add_attachment(b"12345", maintype="application", subtype="octet-stream", filename="a.bin")
    m.add_attachment(b"x" * 50, maintype="application", subtype="octet-stream", filename="big.bin")
    p = parse_mail(bytes(m), 10)
    assert (p.sender, p.sender_name, p.message_id) == ("who@tardis.example", "Dr Who", "<1@tardis.example>")
    assert p.text.strip() == "plain body" and "<script" not in p.html and "body" in p.html
    assert [(a.filename, a.data is None) for a in p.attachments] == [("a.bin", False), ("big.bin", True)]
    assert any("big.bin" in n for n in p.notes)
