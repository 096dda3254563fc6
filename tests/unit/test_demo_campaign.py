"""The demo's care campaign succeeds only when all three outcomes came (hotline_lab/demo_campaign.py):
`make demo`'s exit status depends on it."""
from __future__ import annotations

from hotline_lab.demo_campaign import CSAT, Attempt, campaign_yaml, customers, missing_outcomes

from ivr.outbound.campaign import parse_campaign

PEOPLE = customers(1764785000, 33690)
SURVEY, MACHINE, OPT_OUT = (p.number for p in PEOPLE)
SCORES = {"campaign": "demo-care-4785000", "csat_answers": 1, "csat_mean": float(CSAT), "nps_answers": 1}


def reached() -> list[Attempt]:
    return [Attempt(SURVEY, "answered", "NOTSURE", ""), Attempt(MACHINE, "machine", "MACHINE", ""),
            Attempt(OPT_OUT, "answered", "NOTSURE", "opted out")]


def test_each_run_calls_numbers_of_its_own_on_their_own_phones():
    assert [p.role for p in PEOPLE] == ["survey", "machine", "opt-out"]
    assert [p.port for p in PEOPLE] == [33690, 33691, 33692]
    other = customers(1764785061, 33690)
    assert not {p.number for p in PEOPLE} & {p.number for p in other}
    assert all(p.number.startswith("+337") and len(p.number) == 12 for p in PEOPLE + other)


def test_all_three_outcomes_reached():
    assert missing_outcomes(PEOPLE, reached(), {OPT_OUT}, SCORES) == []


def test_a_machine_amd_took_for_a_person_is_missing():
    attempts = reached()
    attempts[1] = Attempt(MACHINE, "answered", "HUMAN", "")
    [problem] = missing_outcomes(PEOPLE, attempts, {OPT_OUT}, SCORES)
    assert problem.startswith("machine") and "HUMAN" in problem


def test_an_opt_out_not_on_the_dnc_list_is_missing():
    [problem] = missing_outcomes(PEOPLE, reached(), set(), SCORES)
    assert problem.startswith("opt-out") and "not on the do-not-call list" in problem


def test_a_call_still_in_progress_or_never_placed_is_missing():
    attempts = reached()[1:] + [Attempt(SURVEY, None, None, "")]
    assert [m.split(" ")[0] for m in missing_outcomes(PEOPLE, attempts, {OPT_OUT}, SCORES)] == ["survey"]
    assert len(missing_outcomes(PEOPLE, [], set(), SCORES)) == 3


def test_no_survey_answers_is_missing():
    [problem] = missing_outcomes(PEOPLE, reached(), {OPT_OUT}, None)
    assert problem.startswith("survey answers")
    [problem] = missing_outcomes(PEOPLE, reached(), {OPT_OUT}, {**SCORES, "csat_mean": 2.0})
    assert problem.startswith("survey answers")


def test_the_campaign_file_it_writes_is_valid_and_agentless():
    campaign, problems = parse_campaign(campaign_yaml("demo-care-1"), "demo.yaml")
    assert problems == [] and campaign is not None
    assert (campaign.mode, campaign.machine.action, campaign.requires_consent) == ("agentless", "retry", True)
    assert "{port}" in campaign.channel and campaign.dialplan.endswith("outbound-survey.yaml")


def test_the_printed_tables_show_each_figure_and_this_campaigns_scores_only():
    from rich.console import Console

    from hotline_lab.demo_campaign import _print_attempts, _print_status, _print_survey
    console = Console(record=True, width=80)
    _print_status(console, "demo-care-4785000", [{"campaign": "demo-care-4785000", "outcome_machine": 1,
                                                  "contacts_pending": 1}])
    _print_attempts(console, PEOPLE, reached())
    _print_survey(console, SCORES)
    text = console.export_text()
    assert "outcome_machine" in text and "contacts_pending" in text
    assert f"{MACHINE} │ machine  │ machine  │ MACHINE" in text
    assert "opted out" in text and "4.0" in text
    console = Console(record=True, width=80)
    _print_survey(console, None)
    assert "no answers for this campaign" in console.export_text()
