"""Channels and agent capacity (the shape of `channels:` in agents.yaml / queues.yaml).

Capacity, like Azure Job Router: an agent has `capacity` units and every channel costs some;
a non-voice task is offered only when it fits in what is left. The defaults give one call =
the whole agent (voice is the ACD's call side, which offers a call only to an agent free of
calls), 4 chats (5 units each) or 5 e-mails (4 each), and mixes such as 2 chats + 2 e-mails.

Voice and non-voice work on one agent (the rule, decided here):
* while the agent rings, talks or wraps up a call, it gets no new non-voice offers; the tasks
  it already holds stay with it;
* an agent holding non-voice tasks may still be offered a call when every channel it holds is
  in its `voice_interrupts` (default: e-mail, SMS, fax, voice messages: work that waits
  without harm); a live chat is not interruptible by default, so chats hold calls back;
* a profile without "voice" never gets calls; a profile with only "voice" never gets tasks.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Channel = Literal["voice", "email", "chat", "sms", "voicemail", "fax"]
CHANNELS: tuple[str, ...] = ("voice", "email", "chat", "sms", "voicemail", "fax")
NON_VOICE: tuple[str, ...] = CHANNELS[1:]

DEFAULT_CAPACITY = 20
DEFAULT_COST: dict[str, int] = {"email": 4, "chat": 5, "sms": 4, "voicemail": 20, "fax": 4}
DEFAULT_SERVICE_LEVEL_SECONDS: dict[str, float] = {
    "voice": 20.0, "chat": 60.0, "email": 8 * 3600.0, "sms": 3600.0,
    "voicemail": 2 * 3600.0, "fax": 8 * 3600.0}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChannelProfile(_Model):
    """One agent's channels. `cost` overrides DEFAULT_COST per channel."""
    accepts: list[Channel] = Field(default_factory=lambda: list(CHANNELS))
    capacity: int = Field(DEFAULT_CAPACITY, ge=1, le=1000)
    cost: dict[Channel, int] = Field(default_factory=dict)
    voice_interrupts: list[Channel] = Field(
        default_factory=lambda: ["email", "sms", "voicemail", "fax"])

    @model_validator(mode="after")
    def _costs(self) -> "ChannelProfile":
        for ch, units in self.cost.items():
            if ch == "voice":
                raise ValueError("cost: voice always takes the whole agent; give no cost for it")
            if not 1 <= units <= self.capacity:
                raise ValueError(f"cost of {ch}: {units} outside 1-{self.capacity} (capacity)")
        return self

    def units(self, channel: str) -> int:
        """A default cost above a small capacity takes the whole agent rather than never fitting."""
        return self.cost.get(channel,  # type: ignore[call-overload]
                             min(self.capacity, DEFAULT_COST.get(channel, self.capacity)))

    @property
    def voice(self) -> bool:
        return "voice" in self.accepts


class ChannelSettings(_Model):
    """Service-level targets per channel and the step taken when a task nears breach: at
    `near_breach` x target seconds of waiting, the task gains `breach_priority` priority levels
    (so it overtakes younger work of its kind) and an `Escalated` action says so."""
    service_level_seconds: dict[Channel, float] = Field(
        default_factory=lambda: dict(DEFAULT_SERVICE_LEVEL_SECONDS))  # type: ignore[arg-type]
    near_breach: float = Field(0.8, gt=0, le=1)
    breach_priority: int = Field(5, ge=0)

    def target(self, channel: str) -> float:
        return self.service_level_seconds.get(  # type: ignore[call-overload]
            channel, DEFAULT_SERVICE_LEVEL_SECONDS.get(channel, 3600.0))
