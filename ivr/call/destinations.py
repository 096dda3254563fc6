"""Where the ACD may send a caller it diverts (no agents, queue full, wait too long…).

Named in config/queues.yaml under `destinations:` so queues refer to them by name. Every kind
ends with a person or a clear message: a transfer (a number or extension, through the site's
[hotline-transfer] context), a callback request, or a message then goodbye. A name nobody
defined hands the call to Asterisk's operator fallback rather than dropping it.
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, model_validator


class Destination(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    transfer: str | None = None          # Dial(Local/<transfer>@hotline-transfer)
    callback: bool = False               # keep the caller's number: an agent calls back
    message: list[str] = []              # Asterisk sounds played before the goodbye
    # The caller leaves a voice message after the prompt (and a beep); it becomes a callback
    # task (channel "voicemail") that an agent listens to and calls back: never a loop of
    # mailboxes, the call ends after the recording.
    voicemail: bool = False
    max_seconds: int = 120               # of a voice message
    # What the caller hears first, in their language: what happens next (e.g. "We will call
    # you back at this number within two hours."). Built by `ivr sounds build`.
    prompt: dict[str, str] = {}

    @model_validator(mode="after")
    def _one_kind(self) -> "Destination":
        if (self.transfer is not None) + self.callback + bool(self.message) + self.voicemail != 1:
            raise ValueError("a destination is one of: transfer: NUMBER, callback: true, "
                             "voicemail: true or message: [sounds]")
        if not 5 <= self.max_seconds <= 600:
            raise ValueError("max_seconds of a voice message must be between 5 and 600")
        if not any(text.strip() for text in self.prompt.values()):
            raise ValueError("a destination must tell the caller what happens next: add "
                             "prompt: {<language>: <text>} for every language of the dialplan "
                             '(e.g. en: "We will call you back at this number within two '
                             'hours."); `ivr sounds build` makes the sound')
        return self


def parse_destinations(data: dict | None) -> dict[str, Destination]:
    return {name: Destination.model_validate(spec or {}) for name, spec in (data or {}).items()}
