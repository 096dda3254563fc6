"""Voice messages: the destination's rules, recording names, due time and task text."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from pydantic import ValidationError

from ivr.call.destinations import Destination
from ivr.channels.voicemail_rules import VoiceMessage, body, due_at, recording_name, subject

PROMPT = {"en": "Please leave a message after the tone; we call you back within two hours."}


def test_a_voicemail_destination_is_one_kind_with_a_bounded_length() -> None:
    d = Destination(voicemail=True, prompt=PROMPT)
    assert d.voicemail and d.max_seconds == 120
    with pytest.raises(ValidationError, match="one of"):
        Destination(voicemail=True, callback=True, prompt=PROMPT)
    with pytest.raises(ValidationError, match="between 5 and 600"):
        Destination(voicemail=True, max_seconds=3600, prompt=PROMPT)


@pytest.mark.parametrize("call_id, name", [
    ("1796317208.42", "vm-1796317208.42"),
    ("../../etc/passwd", "vm-_.._etc_passwd"),
])
def test_recording_names_stay_in_their_folder(call_id: str, name: str) -> None:
    assert recording_name(call_id) == name and "/" not in recording_name(call_id)


def test_no_call_id_no_recording() -> None:
    with pytest.raises(ValueError):
        recording_name("")


def test_due_in_two_hours_and_the_text_of_the_task() -> None:
    now = datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)
    assert due_at(now, 120) == datetime(2026, 12, 3, 11, 0, tzinfo=timezone.utc)
    msg = VoiceMessage("c1", "+33611", "orders", 0, "fr", 12.4, "bonjour rappelez moi")
    assert subject(msg) == "Voice message from +33611 (12 s)"
    assert "bonjour rappelez moi" in body(msg, None)
    silent = VoiceMessage("c1", "+33611", "orders", 0, "fr", 3.0, None)
    assert body(silent, "the recording is missing").endswith("the recording is missing")
    assert "listen to the recording" in body(silent, None)


def test_a_voicemail_destination_needs_the_channel_configured(tmp_path) -> None:
    import yaml

    from ivr.config import ConfigError, load_settings

    (tmp_path / "queues.yaml").write_text(yaml.safe_dump({
        "queues": {"orders": {}}, "destinations": {"leave-message": {"voicemail": True, "prompt": PROMPT}}}))
    engine = {"queues_file": str(tmp_path / "queues.yaml")}
    (tmp_path / "engine.yaml").write_text(yaml.safe_dump(engine))
    with pytest.raises(ConfigError, match="no channels.voicemail"):
        load_settings(tmp_path / "engine.yaml").destinations()
    (tmp_path / "engine.yaml").write_text(yaml.safe_dump({**engine, "channels": {"voicemail": {}}}))
    assert load_settings(tmp_path / "engine.yaml").destinations()["leave-message"].voicemail
