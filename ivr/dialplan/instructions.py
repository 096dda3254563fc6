"""What the sans-IO walker asks the engine to do (see walker.Walker).

Prompts are resolved sound ids for the current language, relative to the
sounds dir without extension, e.g. "en/main-menu".
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Play:
    """Play prompts; send back None."""
    prompts: tuple[str, ...]


@dataclass(frozen=True)
class AskDigit:
    """Play prompts (interruptible) and wait for one key; send back the key or None
    on timeout. A key outside `keys` is treated as invalid by the walker."""
    prompts: tuple[str, ...]
    timeout_seconds: float
    keys: frozenset[str]


@dataclass(frozen=True)
class AskDigits:
    """Read several digits; send back the digits (terminator stripped) or None."""
    prompts: tuple[str, ...]
    timeout_seconds: float
    min_length: int
    max_length: int
    terminator: str
    escape: str = ""      # a key that ends the entry at once, alone (a survey's safety key)


@dataclass(frozen=True)
class Listen:
    """Play prompts (interruptible by a key) and recognise one utterance; send back a
    `SpeechInput` (None = nothing heard). `grammar` is intent -> phrases in the
    current language, always including the "adverse-event" intent (policy
    safety_phrases) when the plan has phrases for that language. A confirmation
    ("You said ..., is that right?") is a second Listen whose grammar is
    {"yes": ..., "no": ..., "adverse-event": ...} and whose keys include 1 and 2.
    Without a speech model the engine plays the prompts and waits
    `no_speech_timeout` seconds for a key: SpeechInput(key=...) or SpeechInput()
    (a bare key string or None is accepted too)."""
    prompts: tuple[str, ...]
    keys: frozenset[str]
    grammar: dict[str, tuple[str, ...]] = field(hash=False)
    no_speech_timeout: float
    max_utterance: float
    node: str


@dataclass(frozen=True)
class SpeechInput:
    """The answer to `Listen`: the key pressed during the prompt or the listen, or
    what was recognised (ivr.speech Heard: text, mean word confidence, best intent,
    every matched intent); all empty when nothing was heard."""
    key: str | None = None
    text: str = ""
    confidence: float = 0.0
    intent: str | None = None
    candidates: tuple[str, ...] = ()


@dataclass(frozen=True)
class LookupCaller:
    """Look the number up in the CRM; send back the contact dict (with `type`,
    optionally `preferred_agent`, ...) or None if unknown."""
    number: str


@dataclass(frozen=True)
class Route:
    """Terminal: queue the call in the ACD."""
    queue: str
    intent: str
    priority: int
    required: str | None
    agent: str | None
    node: str
    adverse_event: bool = False   # the plan's safety route or the adverse-event intent


@dataclass(frozen=True)
class Transfer:
    """Terminal: transfer to an extension or external number."""
    destination: str
    node: str


@dataclass(frozen=True)
class Hangup:
    """Terminal: play the goodbye prompts, then hang up."""
    prompts: tuple[str, ...]
    node: str


Instruction = Play | AskDigit | AskDigits | Listen | LookupCaller | Route | Transfer | Hangup
TERMINAL = (Route, Transfer, Hangup)
