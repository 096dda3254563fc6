from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.speech.confidence import PHARMACOVIGILANCE, Outcome, decide
from ivr.speech.recognizer import Heard


def H(intent: str | None, conf: float, text: str = "x", cands: tuple[str, ...] | None = None) -> Heard:
    return Heard(text, conf, (), intent, cands if cands is not None else ((intent,) if intent else ()))


@pytest.mark.parametrize("conf, outcome", [
    (1.0, Outcome.ROUTE), (0.8, Outcome.ROUTE), (0.79, Outcome.CONFIRM),
    (0.5, Outcome.CONFIRM), (0.49, Outcome.REASK), (0.0, Outcome.REASK),
])
def test_bands(conf: float, outcome: Outcome) -> None:
    d = decide(H("order", conf), high=0.8, low=0.5)
    assert d.outcome is outcome
    assert d.target == ("order" if outcome is Outcome.ROUTE else None)


def test_no_intent_reasks_then_human() -> None:
    assert decide(H(None, 0.9)).outcome is Outcome.REASK
    assert decide(Heard("", 0.0)).outcome is Outcome.REASK
    assert decide(Heard("", 0.0), attempt=2, max_attempts=2).outcome is Outcome.HUMAN
    assert decide(H("order", 0.1), attempt=3, max_attempts=3).outcome is Outcome.HUMAN


@given(st.floats(0, 1), st.sampled_from([None, "order", "product"]), st.integers(1, 5))
def test_adverse_always_wins(conf: float, other: str | None, attempt: int) -> None:
    for h in (H("adverse", conf), H(other, conf, cands=tuple(c for c in (other, "adverse") if c))):
        d = decide(h, attempt=attempt)
        assert d.outcome is Outcome.ROUTE and d.target == PHARMACOVIGILANCE


def test_bad_thresholds() -> None:
    with pytest.raises(ValueError):
        decide(H("order", 0.9), high=0.4, low=0.6)
