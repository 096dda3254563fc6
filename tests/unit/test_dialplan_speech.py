"""The `speech` dialplan node: walker bands (route / confirm / reask / human), keys,
adverse-event phrases, the no-model mode, static checks and prompts."""
from __future__ import annotations

import shutil
import wave
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.dialplan import (TERMINAL, Catalog, Listen, Play, Route, SpeechInput, Walker,
                          check_paths, check_plan, load_plan, load_plan_text, parse_plan)
from ivr.dialplan.model import all_prompts
from ivr.app.prompts import missing_prompts
from ivr.cli.sounds import build_sounds

ROOT = Path(__file__).resolve().parents[2]
SPEECH_TEXT = (ROOT / "dialplans/speech.yaml").read_text(encoding="utf-8")
SPEECH = load_plan(ROOT / "dialplans/speech.yaml")
CATALOG = Catalog(queues={"operator", "orders", "medinfo", "pharmacovigilance"})
KO_GRAMMAR = {"order": ("배송",), "product": ("제품 문의",), "agent": ("상담원 연결",),
              "adverse-event": ("이상 반응",)}
YES_NO_KO = {"yes": ("네",), "no": ("아니요",), "adverse-event": ("이상 반응",)}

ORDERS = Route("orders", "order", 10, None, None, "orders")
MEDINFO = Route("medinfo", "product-info", 10, None, None, "medinfo")
OPERATOR = Route("operator", "operator", 0, None, None, "operator")
SAFETY = Route("pharmacovigilance", "adverse-event", 100, None, None, "safety", True)


def said(text: str, confidence: float, intent: str | None = None, *candidates: str) -> SpeechInput:
    return SpeechInput(text=text, confidence=confidence, intent=intent,
                       candidates=candidates or ((intent,) if intent else ()))


def key(k: str) -> SpeechInput:
    return SpeechInput(key=k)


NOTHING = SpeechInput()


def NOON() -> datetime:
    return datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


def walk(plan, results, variables=None):
    w = Walker(plan, variables or {"caller": "+821012345678"}, now=NOON)
    seen = [w.start()]
    for r in results:
        seen.append(w.send(r))
    return w, seen


def speech_steps(w: Walker) -> list[dict]:
    return [e for e in w.path if e.get("input") in ("speech", "confirm")]


def line_of(text: str, needle: str, nth: int = 1) -> int:
    lines = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    return lines[nth - 1]


# ---- the Listen instruction ----

def test_first_listen_in_korean() -> None:
    w = Walker(SPEECH, {}, now=NOON)
    assert w.language == "ko"
    assert w.start() == Listen(("ko/ask",), frozenset({"0", "1", "9"}), KO_GRAMMAR, 5.0, 10.0, "ask")


def test_english_grammar_and_prompts() -> None:
    w, seen = walk(SPEECH, [], {"language": "en"})
    assert seen[0].prompts == ("en/ask",)
    assert seen[0].grammar == {"order": ("order",), "product": ("product information",),
                               "agent": ("agent",), "adverse-event": ("side effect",)}
    w.send(said("product information", 0.6, "product"))
    assert w._pending.prompts == ("en/ask-confirm-product",)
    assert w._pending.grammar == {"yes": ("yes",), "no": ("no",), "adverse-event": ("side effect",)}


# ---- bands ----

@pytest.mark.parametrize("text, intent, route", [
    ("배송", "order", ORDERS), ("제품 문의", "product", MEDINFO), ("상담원 연결", "agent", OPERATOR)])
def test_high_confidence_routes(text, intent, route) -> None:
    w, seen = walk(SPEECH, [said(text, 0.93, intent)])
    assert seen[-1] == route and w.finished and w.route_kind == "speech"
    assert speech_steps(w) == [{"node": "ask", "input": "speech", "text": text,
                                "confidence": 0.93, "intent": intent, "outcome": "route"}]
    assert w.speech == {"text": text, "confidence": 0.93, "intent": intent, "outcome": "routed"}


def test_exactly_high_routes_exactly_low_confirms() -> None:
    assert walk(SPEECH, [said("배송", 0.8, "order")])[1][-1] == ORDERS
    w, seen = walk(SPEECH, [said("배송", 0.5, "order")])
    assert seen[-1].prompts == ("ko/ask-confirm-order",)


@pytest.mark.parametrize("answer", [said("네", 0.9, "yes"), key("1")], ids=["voice", "key"])
def test_confirm_yes(answer) -> None:
    w, seen = walk(SPEECH, [said("제품 문의", 0.65, "product"), answer])
    assert seen[1] == Listen(("ko/ask-confirm-product",), frozenset({"0", "1", "2", "9"}),
                             YES_NO_KO, 5.0, 10.0, "ask")
    assert seen[-1] == MEDINFO and w.route_kind == "speech"
    steps = speech_steps(w)
    assert steps[0]["outcome"] == "confirm"
    assert steps[1]["input"] == "confirm" and steps[1]["answer"] == "yes"
    assert w.speech == {"text": "제품 문의", "confidence": 0.65, "intent": "product",
                        "outcome": "confirmed"}


@pytest.mark.parametrize("answer", [said("아니요", 0.9, "no"), key("2")], ids=["voice", "key"])
def test_confirm_no_reasks_then_routes(answer) -> None:
    w, seen = walk(SPEECH, [said("배송", 0.6, "order"), answer])
    assert seen[-1] == Listen(("ko/ask-reask",), frozenset({"0", "1", "9"}), KO_GRAMMAR,
                              5.0, 10.0, "ask")
    assert w.speech["outcome"] == "reasked"
    w.send(said("상담원 연결", 0.95, "agent"))
    assert w.result == OPERATOR and w.route_kind == "speech"
    assert [(e["input"], e.get("outcome") or e.get("answer")) for e in speech_steps(w)] == \
        [("speech", "confirm"), ("confirm", "no"), ("speech", "route")]


def test_confirm_no_on_last_attempt_goes_to_a_person() -> None:
    w, seen = walk(SPEECH, [said("배송", 0.6, "order"), key("2"), said("배송", 0.7, "order"),
                            said("아니요", 0.88, "no")])
    assert seen[-1] == OPERATOR and w.route_kind == "fallback"
    assert w.speech == {"text": "배송", "confidence": 0.7, "intent": "order", "outcome": "human"}
    assert w.path[-2] == {"node": "ask", "input": "fallback"}


@pytest.mark.parametrize("answer", [NOTHING, said("네", 0.3, "yes"), said("배송", 0.9, "order"),
                                    key("7")], ids=["silence", "unsure-yes", "other", "bad-key"])
def test_confirm_without_clear_answer_reasks(answer) -> None:
    w, seen = walk(SPEECH, [said("배송", 0.6, "order"), answer])
    assert seen[-1].prompts == ("ko/ask-reask",)
    assert speech_steps(w)[-1]["answer"] == "none"


def test_option_key_during_confirmation() -> None:
    w, seen = walk(SPEECH, [said("배송", 0.6, "order"), key("0")])
    assert seen[-1] == OPERATOR and w.route_kind == "dtmf"
    assert w.path[-2] == {"node": "ask", "input": "key", "key": "0"}


def test_low_confidence_reask_once_then_human() -> None:
    w, seen = walk(SPEECH, [said("배송", 0.3, "order"), said("제품 문의", 0.2, "product")])
    assert seen[1].prompts == ("ko/ask-reask",)
    assert seen[-1] == OPERATOR and w.route_kind == "fallback"
    assert [e["outcome"] for e in speech_steps(w)] == ["reask", "human"]
    assert speech_steps(w)[0]["intent"] == "order"
    assert w.speech == {"text": "제품 문의", "confidence": 0.2, "intent": "product", "outcome": "human"}


def test_no_match_and_silence_reask_then_human() -> None:
    w, seen = walk(SPEECH, [said("안녕하세요", 0.9), NOTHING])
    assert seen[1].prompts == ("ko/ask-reask",) and seen[-1] == OPERATOR
    assert speech_steps(w) == [
        {"node": "ask", "input": "speech", "text": "안녕하세요", "confidence": 0.9, "intent": None,
         "outcome": "reask"},
        {"node": "ask", "input": "speech", "text": "", "confidence": 0.0, "intent": None,
         "outcome": "human"}]
    assert w.speech == {"text": "", "confidence": 0.0, "intent": None, "outcome": "human"}


def test_unknown_intent_from_engine_is_no_match() -> None:
    w, seen = walk(SPEECH, [said("배송", 0.99, "refund")])
    assert seen[-1].prompts == ("ko/ask-reask",)
    assert speech_steps(w)[0]["intent"] is None


def test_node_bands_override_policy() -> None:
    plan = load_plan_text(SPEECH_TEXT.replace("    high: 0.8\n    low: 0.5\n",
                                              "    high: 0.95\n    low: 0.1\n"))
    assert walk(plan, [said("배송", 0.9, "order")])[1][-1].prompts == ("ko/ask-confirm-order",)
    assert walk(plan, [said("배송", 0.2, "order")])[1][-1].prompts == ("ko/ask-confirm-order",)
    # without node values, the policy's speech_high / speech_low apply
    plan = load_plan_text(SPEECH_TEXT.replace("    high: 0.8\n    low: 0.5\n", "")
                          .replace("speech_high: 0.8", "speech_high: 0.6"))
    assert walk(plan, [said("배송", 0.65, "order")])[1][-1] == ORDERS


def test_without_confirm_prompt_the_middle_band_reasks() -> None:
    text = SPEECH_TEXT.split("    confirm_prompt:")[0] + "    reask_prompt:" + \
        SPEECH_TEXT.split("    reask_prompt:")[1]
    plan, _, problems = parse_plan(text)
    assert plan is not None
    assert any("no confirm_prompt" in p.message and not p.is_error
               for p in check_plan(plan, CATALOG))
    w, seen = walk(plan, [said("배송", 0.7, "order")])
    assert seen[-1].prompts == ("ko/ask-reask",)
    assert speech_steps(w)[0]["outcome"] == "reask"
    assert not any(pid.startswith("ask-confirm") for pid, _, _ in all_prompts(plan))


def test_without_reask_prompt_policy_prompts_and_question_again() -> None:
    text = SPEECH_TEXT.split("    reask_prompt:")[0] + "\n  orders:" + SPEECH_TEXT.split("\n  orders:")[1]
    plan = load_plan_text(text)
    assert walk(plan, [NOTHING])[1][-1].prompts == ("ko/no-input", "ko/ask")
    assert walk(plan, [said("음", 0.9)])[1][-1].prompts == ("ko/ask",)  # no invalid_prompt


# ---- keys instead of speech ----

@pytest.mark.parametrize("k, route", [("1", ORDERS), ("0", OPERATOR)])
def test_key_instead_of_speech(k, route) -> None:
    w, seen = walk(SPEECH, [key(k)])
    assert seen[-1] == route and w.route_kind == "dtmf" and w.speech is None
    assert w.path[1] == {"node": "ask", "input": "key", "key": k}


def test_key_wins_over_speech() -> None:
    w, seen = walk(SPEECH, [SpeechInput(key="0", text="배송", confidence=0.99, intent="order")])
    assert seen[-1] == OPERATOR and w.route_kind == "dtmf"


def test_invalid_key_counts_as_a_retry() -> None:
    w, seen = walk(SPEECH, [key("5")])
    assert seen[-1].prompts == ("ko/ask-reask",)
    assert w.path[1] == {"node": "ask", "input": "invalid", "key": "5"}
    w.send(key("*"))
    assert w.result == OPERATOR and w.route_kind == "fallback"


def test_key_after_a_reask() -> None:
    w, seen = walk(SPEECH, [said("배송", 0.1, "order"), key("1")])
    assert seen[-1] == ORDERS and w.route_kind == "dtmf"
    assert w.speech["outcome"] == "reasked"  # the last *speech* decision, for the CRM


# ---- adverse events ----

def test_safety_key() -> None:
    w, seen = walk(SPEECH, [key("9")])
    assert seen[-1] == SAFETY and w.route_kind == "dtmf"
    assert {"node": "ask", "input": "safety", "key": "9"} in w.path


@pytest.mark.parametrize("heard", [
    said("이상 반응", 0.95, "adverse-event"),
    said("이상 반응", 0.1, "adverse-event"),                      # whatever the confidence
    said("배송 이상 반응", 0.9, "order", "order", "adverse-event"),  # among the candidates
    SpeechInput(key="1", text="이상 반응", confidence=0.4, intent="adverse-event"),
], ids=["sure", "unsure", "candidate", "with-key"])
def test_adverse_phrase_always_wins(heard) -> None:
    w, seen = walk(SPEECH, [heard])
    assert seen[-1] == SAFETY and w.route_kind == "speech"
    assert speech_steps(w)[-1]["intent"] == "adverse-event"
    assert w.speech["intent"] == "adverse-event" and w.speech["outcome"] == "routed"


@pytest.mark.parametrize("answer", [said("이상 반응", 0.3, "adverse-event"), key("9")])
def test_adverse_during_confirmation_and_reask(answer) -> None:
    assert walk(SPEECH, [said("배송", 0.6, "order"), answer])[1][-1] == SAFETY
    assert walk(SPEECH, [NOTHING, answer])[1][-1] == SAFETY


TWO_NODES = """
name: two
languages: [ko, en]
default_language: ko
start: first
policy:
  human_route: operator
  safety_route: safety
  safety_phrases: {ko: [이상 반응, 부작용], en: [side effect]}
nodes:
  first:
    type: speech
    prompt: {ko: 첫째, en: First}
    intents:
      more: {phrases: {ko: [다음], en: [next]}, next: second}
    options: {"0": operator}
    high: 0.7
    low: 0.7
  second:
    type: speech
    prompt: {ko: 둘째, en: Second}
    intents:
      order: {phrases: {ko: [배송], en: [order]}, next: orders}
    options: {"0": operator}
    retries: 1
  orders: {type: route, queue: orders, intent: order}
  operator: {type: route, queue: operator, intent: operator}
  safety: {type: route, queue: pharmacovigilance, intent: adverse-event, priority: 100}
"""


def test_adverse_phrases_in_every_speech_node() -> None:
    plan = load_plan_text(TWO_NODES)
    # first: low == high, no confirmation band; second: policy bands, no confirm_prompt
    assert [(p.severity, p.message) for p in check_plan(plan, CATALOG)] == [
        ("warning", "speech node 'second' has no confirm_prompt: answers with confidence "
                    "in [0.5, 0.8) are re-asked")]
    w, seen = walk(plan, [said("다음", 0.9, "more")])
    assert seen[-1].node == "second"
    assert seen[-1].grammar == {"order": ("배송",), "adverse-event": ("이상 반응", "부작용")}
    w.send(said("부작용", 0.2, "adverse-event"))
    assert w.result == SAFETY
    assert [e["node"] for e in w.path if "type" in e] == ["first", "second", "safety"]


def test_retries_one_means_a_single_try() -> None:
    plan = load_plan_text(TWO_NODES)
    w, seen = walk(plan, [said("다음", 0.9, "more"), NOTHING])
    assert w.result == OPERATOR and w.route_kind == "fallback"


# ---- no speech model: keys only ----

@pytest.mark.parametrize("results, route, kind", [
    (["1"], ORDERS, "dtmf"), ([key("0")], OPERATOR, "dtmf"), (["9"], SAFETY, "dtmf"),
    ([None, None], OPERATOR, "fallback"), ([NOTHING, "1"], ORDERS, "dtmf"),
    ([None, ""], OPERATOR, "fallback"), (["5", None], OPERATOR, "fallback"),
])
def test_no_model_mode_keys_only(results, route, kind) -> None:
    w, seen = walk(SPEECH, results)
    assert all(isinstance(i, Listen) for i in seen[:-1])
    assert seen[-1] == route and w.route_kind == kind


def test_bad_results_are_refused() -> None:
    w = Walker(SPEECH, {}, now=NOON)
    w.start()
    with pytest.raises(TypeError):
        w.send({"text": "배송"})
    with pytest.raises(TypeError):
        w.send(1)


def test_weird_confidence_is_clamped() -> None:
    assert walk(SPEECH, [said("배송", 7.0, "order")])[1][-1] == ORDERS
    w, seen = walk(SPEECH, [said("배송", float("nan"), "order")])
    assert seen[-1].prompts == ("ko/ask-reask",) and speech_steps(w)[0]["confidence"] == 0.0


ANSWERS = st.one_of(
    st.none(), st.sampled_from(list("0123456789*#")),
    st.builds(SpeechInput, key=st.one_of(st.none(), st.sampled_from(list("0129#"))),
              text=st.sampled_from(["", "배송", "네", "아니요", "이상 반응", "뭐"]),
              confidence=st.one_of(st.floats(-1, 2), st.just(float("nan"))),
              intent=st.sampled_from([None, "order", "product", "agent", "yes", "no", "adverse-event",
                                      "x"])))


@settings(max_examples=300, deadline=None)
@given(st.lists(ANSWERS, max_size=10), st.sampled_from(["ko", "en"]))
def test_any_caller_behaviour_terminates(answers, lang) -> None:
    w = Walker(SPEECH, {"language": lang}, now=NOON)
    instr = w.start()
    feed = iter(answers)
    for _ in range(50):
        if isinstance(instr, TERMINAL):
            break
        instr = w.send(None if isinstance(instr, Play) else next(feed, None))
    assert isinstance(instr, TERMINAL)
    assert w.route_kind in ("dtmf", "speech", "fallback")
    assert sum(1 for e in w.path if e.get("input") == "speech") <= 2  # reask once
    if w.route_kind == "speech":
        assert w.speech["outcome"] in ("routed", "confirmed")


# ---- checks ----

def test_speech_plan_is_clean() -> None:
    assert check_paths([ROOT / "dialplans/speech.yaml"], CATALOG) == []
    assert check_plan(SPEECH, CATALOG) == []


def _problems(text: str, catalog: Catalog = CATALOG) -> list:
    plan, _, problems = parse_plan(text, "s.yaml")
    assert plan is not None, problems
    return sorted(set(problems + check_plan(plan, catalog)))


def test_missing_phrases_for_a_language() -> None:
    text = SPEECH_TEXT.replace("phrases: {ko: [제품 문의], en: [product information]}",
                               "phrases: {ko: [제품 문의]}")
    problems = _problems(text)
    hits = [p for p in problems if "intent 'product' of speech node 'ask' has no 'en' phrases"
            in p.message]
    assert len(hits) == 1 and hits[0].is_error
    assert hits[0].line == line_of(text, "phrases: {ko: [제품 문의]}")
    # its English confirmation still has a text: the label
    assert not any("ask-confirm-product" in p.message for p in problems)


def test_missing_label_and_phrase_means_missing_confirm_text() -> None:
    text = SPEECH_TEXT.replace("phrases: {ko: [제품 문의], en: [product information]}",
                               "phrases: {ko: [제품 문의]}").replace(
        "label: {ko: 제품 문의, en: product information}", "label: {ko: 제품 문의}")
    problems = _problems(text)
    assert any("prompt 'ask-confirm-product' has no 'en' text" in p.message for p in problems)


def test_missing_safety_and_yes_no_phrases() -> None:
    text = SPEECH_TEXT.replace("    en: [side effect]\n", "").replace('    en: ["yes"]', "")
    problems = _problems(text)
    msgs = {(p.line, p.message) for p in problems if p.is_error}
    assert (line_of(text, "safety_phrases:"),
            "policy.safety_phrases (adverse events, said in every speech node) has no 'en' phrases") in msgs
    assert (line_of(text, "  yes:"), "policy 'yes' (speech confirmations) has no 'en' phrases") in msgs
    text = SPEECH_TEXT.replace("  safety_phrases:\n    ko: [이상 반응]\n    en: [side effect]\n", "")
    assert any("no policy.safety_phrases" in p.message and p.is_error for p in _problems(text))


def test_confirmation_needs_yes_and_no() -> None:
    text = SPEECH_TEXT.replace('  no:\n    ko: [아니요]\n    en: ["no"]\n', "")
    hits = [p for p in _problems(text) if "has no 'no' phrases" in p.message]
    assert len(hits) == 1 and hits[0].line == line_of(text, "    confirm_prompt:")
    # node-level phrases override the policy
    text = text.replace("    retries: 2 ", '    no: {ko: [아니요], en: ["no"]}\n    retries: 2 ')
    assert _problems(text) == []


def test_yes_no_keys_are_not_booleans() -> None:
    assert SPEECH.policy.yes == {"ko": ["네"], "en": ["yes"]}
    assert SPEECH.policy.no == {"ko": ["아니요"], "en": ["no"]}
    plan, _, problems = parse_plan(SPEECH_TEXT.replace('en: ["yes"]', "en: [yes]"), "s.yaml")
    assert plan is None and any("quote it" in p.message for p in problems)


def test_unknown_words_via_the_hook() -> None:
    vocabulary = {"배송", "제품", "문의", "상담원", "연결", "이상", "반응", "네", "아니요"}

    def unknown(phrases: list[str]) -> list[str]:
        return [w for p in phrases for w in p.split() if w not in vocabulary]

    text = SPEECH_TEXT.replace("ko: [상담원 연결]", "ko: [상담원 연결, 사람 바꿔주세요]")
    problems = _problems(text, Catalog(unknown_words={"ko": unknown}))
    assert [(p.line, p.message, p.severity) for p in problems] == [
        (line_of(text, "사람 바꿔주세요"),
         "phrase '사람 바꿔주세요' has words the speech model does not know: 사람, 바꿔주세요 "
         "(vosk would ignore them)", "warning")]
    # one hook for every language: the Korean model does not know English
    problems = _problems(SPEECH_TEXT, Catalog(unknown_words=unknown))
    flagged = {p.message.split("'")[1] for p in problems}
    assert flagged == {"order", "product information", "agent", "side effect", "yes", "no"}
    assert all(not p.is_error for p in problems)
    assert _problems(SPEECH_TEXT, Catalog(unknown_words={"en": lambda ps: []})) == []


def test_missing_human_key() -> None:
    text = SPEECH_TEXT.replace('options: {"1": orders, "0": operator}', 'options: {"1": orders}')
    hits = [p for p in _problems(text) if p.is_error]
    assert [p.message for p in hits] == [
        "speech 'ask' offers no way to a person: add key '0' or a human_exit_waiver"]
    assert hits[0].line == line_of(text, 'options: {"1": orders}')
    waived = text.replace('options: {"1": orders}',
                          'options: {"1": orders}\n    human_exit_waiver: "agent intent"')
    assert [p for p in _problems(waived) if p.is_error] == []
    no_options = SPEECH_TEXT.replace('    options: {"1": orders, "0": operator}\n', "")
    assert any("offers no way to a person" in p.message for p in _problems(no_options))


@pytest.mark.parametrize("old, new, message", [
    ("next: medinfo", "next: nowhere", "unknown node 'nowhere'"),
    ('"0": operator}', '"0": operator, "9": safety}', "key '9' is the safety key"),
    ("    high: 0.8\n    low: 0.5", "    high: 0.4\n    low: 0.5", "low 0.5 is greater than high 0.4"),
    ("speech_low: 0.5\n", "speech_low: 0.9\n", "speech_low 0.9 is greater than speech_high 0.8"),
    ("    intents:\n", "    intents:\n      adverse-event: {phrases: {ko: [아파요]}, next: safety}\n",
     "reserved for policy.safety_phrases"),
    ("    retries: 2 ", "    retries: 3 ", "retries 3 exceeds max_retries 2"),
    ("phrases: {ko: [배송], en: [order]}", "phrases: {ko: [배송], en: ['']}", "at least 1 character"),
])
def test_speech_node_errors(old, new, message) -> None:
    assert old in SPEECH_TEXT
    plan, _, problems = parse_plan(SPEECH_TEXT.replace(old, new), "s.yaml")
    if plan is not None:
        problems += check_plan(plan, CATALOG)
    assert any(message in p.message and p.is_error for p in problems), problems


def test_speech_counts_as_a_menu_level_and_human_exit() -> None:
    plan = load_plan_text(TWO_NODES.replace("max_menu_depth", "x").replace(
        "  safety_route: safety\n", "  safety_route: safety\n  max_menu_depth: 1\n"))
    assert any("menu depth 2 exceeds max_menu_depth 1: first > second" in p.message
               for p in check_plan(plan, CATALOG))
    loop = load_plan_text(TWO_NODES.replace("next: orders}", "next: first}"))
    assert not any("cycle" in p.message for p in check_plan(loop, CATALOG))


# ---- prompts and sounds ----

def test_prompt_ids_and_confirm_texts() -> None:
    prompts = {pid: texts for pid, texts, _ in all_prompts(SPEECH)}
    assert set(prompts) == {"no-input", "ask", "ask-reask", "ask-confirm-order",
                            "ask-confirm-product", "ask-confirm-agent"}
    assert prompts["ask-confirm-order"]["en"] == \
        "You said orders, is that right? Say yes or press 1, say no or press 2."
    assert prompts["ask-confirm-product"]["ko"].startswith("제품 문의, ")
    # without a label, the first phrase of the language stands in
    plan = load_plan_text(SPEECH_TEXT.replace("        label: {ko: 배송, en: orders}\n", ""))
    assert {pid: t for pid, t, _ in all_prompts(plan)}["ask-confirm-order"]["en"].startswith(
        "You said order, ")


def test_sounds_build_every_speech_prompt_in_korean(tmp_path: Path) -> None:
    calls: list = []

    def synth(lang: str, text: str, out: Path) -> None:
        calls.append((lang, out.name.replace(".tmp", ""), text))
        out.write_bytes(text.encode())

    report = build_sounds([ROOT / "dialplans/speech.yaml"], tmp_path, progress=False, synth=synth)
    assert not report.failed and len(report.created) == 12  # 6 prompts x 2 languages
    assert ("ko", "ask-confirm-agent.wav",
            "상담원 연결, 맞으신가요? 맞으면 네라고 말씀하시거나 1번을, 아니면 아니요라고 말씀하시거나 "
            "2번을 누르세요.") in calls
    assert missing_prompts(SPEECH, tmp_path) == []


@pytest.mark.skipif(not (shutil.which("espeak-ng") and shutil.which("sox")),
                    reason="espeak-ng/sox not installed")
def test_real_espeak_korean(tmp_path: Path) -> None:
    plan = tmp_path / "ko.yaml"
    plan.write_text("""
name: ko
languages: [ko]
default_language: ko
start: bye
policy: {human_route: operator, safety_route: operator}
nodes:
  bye: {type: hangup, prompt: {ko: "안녕히 계세요"}}
  operator: {type: route, queue: operator, intent: operator}
""", encoding="utf-8")
    report = build_sounds([plan], tmp_path / "s", progress=False)
    assert not report.failed
    with wave.open(str(tmp_path / "s/ko/bye.wav")) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        assert w.getnframes() > 4000
