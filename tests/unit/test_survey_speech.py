"""Spoken answers to survey questions (issue 15): the words of each score per language, the
walk of a question with `speech: true` (a said score, keys still, the NPS "10" by keys, the
safety key and phrase), and `ivr check`'s rules."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from ivr.dialplan import check_paths, instructions as ins, load_plan
from ivr.dialplan.checks import Catalog, check_plan
from ivr.dialplan.survey_words import NUMBERS, score_grammar, score_of
from ivr.dialplan.walker import Walker
from ivr.outbound.surveys import survey_answers
from ivr.speech.recognizer import match_intents

ROOT = Path(__file__).resolve().parents[2]
WALL = datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("lang, said, score", [
    ("en", "four", 4), ("en", "very satisfied", 5), ("en", "satisfied", 4),
    ("en", "very dissatisfied", 1), ("fr", "quatre", 4), ("fr", "très satisfait", 5),
    ("fr", "pas du tout satisfait", 1), ("fr", "une", 1), ("ko", "매우 만족", 5), ("ko", "넷", 4),
    ("de", "sehr zufrieden", 5), ("es", "cinco", 5)])
def test_csat_words_give_their_score_through_the_recogniser_matching(lang, said, score):
    grammar = score_grammar("csat", lang)
    [best, *_] = match_intents(said, grammar)
    assert score_of(best, "csat") == score


@pytest.mark.parametrize("lang", sorted(NUMBERS))
def test_nps_takes_every_number_from_zero_to_ten_and_no_label(lang):
    grammar = score_grammar("nps", lang)
    assert sorted(score_of(i, "nps") for i in grammar) == list(range(11))
    phrases = [p for ps in grammar.values() for p in ps]
    assert len(phrases) == len(set(phrases)), "one word, one score"
    assert all(score_of(match_intents(ps[0], grammar)[0], "nps") == score_of(i, "nps")
               for i, ps in grammar.items())


def test_scores_outside_the_scale_or_other_intents_are_none():
    assert score_of("score-9", "csat") is None and score_of("score-9", "nps") == 9
    assert score_of("adverse-event", "nps") is None and score_of(None, "csat") is None
    assert score_grammar("csat", "xx") == {}


def plan_doc() -> dict:
    doc = yaml.safe_load((ROOT / "dialplans/inbound-survey.yaml").read_text(encoding="utf-8"))
    for nid in ("survey-csat", "survey-nps"):
        doc["nodes"][nid]["speech"] = True
    doc["policy"]["safety_phrases"] = {"fr": ["effet indésirable"], "en": ["side effect"]}
    return doc


def write(tmp_path: Path, doc: dict) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def survey(tmp_path: Path) -> tuple[Walker, int, ins.Instruction]:
    plan = load_plan(write(tmp_path, plan_doc()))
    walker = Walker(plan, {"language": "en"}, now=lambda: WALL)
    walker.start()
    walker.send("1")
    walker.send(None)
    start = len(walker.path)
    return walker, start, walker.walk_on(plan.post_call_survey)


def said(text: str, intent: str | None, confidence: float = 0.9) -> ins.SpeechInput:
    return ins.SpeechInput(text=text, confidence=confidence, intent=intent,
                           candidates=(intent,) if intent else ())


def test_a_spoken_survey_answers_by_voice_and_by_keys(tmp_path):
    walker, start, csat = survey(tmp_path)
    assert isinstance(csat, ins.Listen) and "score-5" in csat.grammar
    assert "very satisfied" in csat.grammar["score-5"] and "adverse-event" in csat.grammar
    assert csat.keys == frozenset("12345*")
    nps = walker.send(said("very satisfied", "score-5"))
    assert isinstance(nps, ins.Listen) and "ten" in nps.grammar["score-10"]
    more = walker.send(ins.SpeechInput(key="1"))            # keys: "1" may begin "10"
    assert isinstance(more, ins.AskDigits) and more.max_length == 1 and more.escape == "*"
    assert isinstance(walker.send("0"), ins.Hangup)
    answers = survey_answers(walker.plan.nodes, walker.path[start:])
    assert [(a.kind, a.score) for a in answers] == [("csat", 5), ("nps", 10)]
    spoken = [s for s in walker.path[start:] if s.get("via") == "speech"]
    assert spoken[0]["text"] == "very satisfied" and spoken[0]["value"] == "5"


def test_a_score_heard_below_the_low_band_is_asked_again(tmp_path):
    walker, start, _ = survey(tmp_path)
    again = walker.send(said("four", "score-4", confidence=0.2))
    assert isinstance(again, ins.Listen) and again.node == "survey-csat"
    walker.send(said("four", "score-4", confidence=0.7))
    assert [a.score for a in survey_answers(walker.plan.nodes, walker.path[start:])] == [4]


def test_a_side_effect_said_or_star_pressed_in_a_spoken_survey_reaches_safety(tmp_path):
    walker, start, _ = survey(tmp_path)
    route = walker.send(said("side effect", "adverse-event", 0.3))
    assert isinstance(route, ins.Route) and route.adverse_event
    assert survey_answers(walker.plan.nodes, walker.path[start:]) == []
    walker, _, _ = survey(tmp_path)
    walker.send(said("two", "score-2"))
    assert isinstance(walker.send(ins.SpeechInput(key="*")), ins.Route)


def test_without_a_speech_model_the_keys_alone_still_answer(tmp_path):
    walker, start, _ = survey(tmp_path)
    walker.send("3")                                       # a bare key (no speech model)
    walker.send(ins.SpeechInput(key="7"))
    assert isinstance(walker.send(None), ins.Hangup)       # no second NPS key: 7
    assert [a.score for a in survey_answers(walker.plan.nodes, walker.path[start:])] == [3, 7]


def test_check_refuses_speech_in_a_language_without_score_words(tmp_path):
    doc = plan_doc()
    doc["languages"] = ["fr", "en", "it"]
    for node in doc["nodes"].values():
        for field in ("prompt", "invalid_prompt"):
            if isinstance(node.get(field), dict):
                node[field]["it"] = "x"
    doc["policy"]["safety_phrases"]["it"] = ["effetto collaterale"]
    problems = [p for p in check_paths([write(tmp_path, doc)]) if p.severity == "error"]
    assert any("'survey-csat' takes speech, but spoken scores are not known in 'it'" in p.message
               for p in problems), problems
    assert check_paths([write(tmp_path, plan_doc())]) == []


def test_check_warns_of_score_words_the_speech_model_does_not_know(tmp_path):
    plan = load_plan(write(tmp_path, plan_doc()))
    catalog = Catalog(unknown_words=lambda phrases: [w for p in phrases for w in p.split()
                                                     if w == "nought"])
    warned = [p.message for p in check_plan(plan, catalog) if p.severity == "warning"]
    assert any("'en' have words the speech model does not know: nought" in m for m in warned), warned


def test_speech_is_only_for_survey_questions(tmp_path):
    doc = plan_doc()
    doc["nodes"]["account"] = {"type": "collect", "prompt": {"fr": "n", "en": "n"},
                               "variable": "acc", "speech": True, "next": "operator"}
    with pytest.raises(Exception, match="speech: true is for survey questions"):
        load_plan(write(tmp_path, doc))
