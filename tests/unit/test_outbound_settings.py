"""Preview settings instead of constants (issue 15): how long a record stays on an agent's desk
(preview.hold_seconds, default 120 s) and when an AE follow-up is due (preview.
followup_due_days, default 3), with defaults, bounds at file:line, `ivr check`'s warnings, and
the preview adapter using them."""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

from ivr.app.preview import Preview
from ivr.cli.campaign import check_campaign
from ivr.crm.outbound import Reserved
from ivr.outbound.campaign import parse_campaign
from tests.unit.test_outbound_cli import CAMPAIGN, site

FOLLOWUP = """\
name: ae-follow
purpose: complete adverse-event reports
caller_id: "+4930123456"
dialplan: care.yaml
mode: preview
agents: [alice]
list: {segment: ae-followup}
"""


def test_defaults_are_the_former_constants():
    campaign, problems = parse_campaign(FOLLOWUP)
    assert problems == [] and campaign is not None
    assert (campaign.preview.hold_seconds, campaign.preview.followup_due_days) == (120, 3)


def test_out_of_bounds_settings_are_refused_at_their_line():
    text = FOLLOWUP + "preview:\n  hold_seconds: 5\n  followup_due_days: 30\n"
    campaign, problems = parse_campaign(text, "f.yaml")
    assert campaign is None
    found = {(p.line, "hold_seconds" in p.message, "followup_due_days" in p.message) for p in problems}
    assert (9, True, False) in found and (10, False, True) in found, problems


def test_check_warns_of_settings_that_do_nothing(tmp_path: Path):
    file = site(tmp_path, CAMPAIGN + "preview: {hold_seconds: 60}\n")
    [warning] = [p for p in check_campaign(file) if "preview" in p.message]
    assert warning.severity == "warning" and "do nothing in mode agentless" in warning.message
    assert warning.line == 8
    other = tmp_path / "other"
    other.mkdir()
    file = site(other, CAMPAIGN + "mode: preview\nagents: [alice]\npreview: {followup_due_days: 5}\n")
    [warning] = [p for p in check_campaign(file) if "followup_due_days" in p.message]
    assert warning.severity == "warning" and "ae-followup segment only" in warning.message


class FakeStore:
    def __init__(self, cases: list[dict]) -> None:
        self.added: list = []
        self.store = SimpleNamespace(list_cases=self._cases)
        self._open = cases

    async def _cases(self, **_filters) -> list[dict]:
        return self._open

    async def add_contacts(self, name, contacts, now) -> int:
        self.added += contacts
        return len(contacts)

    async def reserve_next(self, campaign, attempt_id, now, holidays) -> Reserved:
        return Reserved(attempt_id, "+4930555000", "Dr B", {})

    async def attempts(self, name) -> list:
        return []


async def test_the_desk_holds_a_record_and_dates_follow_ups_by_the_campaign_settings():
    text = FOLLOWUP + "preview: {hold_seconds: 45, followup_due_days: 7}\n"
    campaign, _ = parse_campaign(text)
    opened = datetime(2026, 12, 1, 9, tzinfo=timezone.utc)
    store = FakeStore([{"case_id": "AE-1", "kind": "adverse_event", "status": "open",
                        "fields": {"reporter_contact": "+49 30 555000"},
                        "missing_criteria": ["patient"], "opened_at": opened}])
    acd = SimpleNamespace(free_for_calls=lambda agent: True, hold_for_campaign=lambda a, h: None)
    runner = SimpleNamespace(campaign=campaign, state="running", acd=acd, store=store,
                             agents=SimpleNamespace(names=["alice"], held=set()),
                             clock=lambda: opened, holidays=lambda: frozenset())
    preview = Preview(SimpleNamespace(runners={campaign.name: runner}), {"alice": "a001"})
    loop = asyncio.get_running_loop()
    answer = await preview.next("alice")
    assert answer["ok"] and answer["record"]["number"] == "+4930555000"
    assert [c.fields["follow_up_by"] for c in store.added] == ["2026-12-08"]
    held = preview.held["alice"]
    assert 44 <= held.expiry.when() - loop.time() <= 45
    held.expiry.cancel()
