"""What the sans-IO walker asks the engine to do (see walker.Walker).

Prompts are resolved sound ids for the current language, relative to the
sounds dir without extension, e.g. "en/main-menu".
"""
from __future__ import annotations

from dataclasses import dataclass


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


Instruction = Play | AskDigit | AskDigits | LookupCaller | Route | Transfer | Hangup
TERMINAL = (Route, Transfer, Hangup)
