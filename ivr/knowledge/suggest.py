"""The order of the screen-pop's suggestions (pure).

An agent has a few seconds while the phone rings: the articles must be in the caller's
language first (the agent reads the answer out; one in another language comes only when
nothing else fits), then those written for the call's IVR intent (the caller chose it in
the menu or said it), then those matching the words of the transcript, best first."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Candidate:
    id: str
    language: str
    intents: tuple[str, ...]
    score: float = 0.0               # transcript relevance, higher is better (0: not matched)
    title: str = ""


def order_suggestions(candidates: Iterable[Candidate], intent: str | None, language: str | None,
                      limit: int = 5) -> list[Candidate]:
    """Best first, each article once, at most `limit`."""
    best: dict[str, Candidate] = {}
    for c in candidates:                         # the same article found twice: its best score
        if c.id not in best or c.score > best[c.id].score:
            best[c.id] = c

    def key(c: Candidate) -> tuple[bool, bool, float, str]:
        return (language is not None and c.language != language,
                not (intent and intent in c.intents), -c.score, c.title.casefold() + c.id)

    return sorted(best.values(), key=key)[:max(0, limit)]
