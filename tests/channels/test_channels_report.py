"""`ivr report --by channel` counts SMS, fax and voice messages stored by their channels
(the real store functions on a SQLite CRM, the real CLI through click's runner)."""
from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from pathlib import Path

from click.testing import CliRunner

from ivr.channels.fax_rules import parse_spooled as parse_fax
from ivr.channels.fax_store import ingest_fax
from ivr.channels.sms_rules import InboundSms
from ivr.channels.sms_store import ingest_sms
from ivr.channels.task_store import record_reply
from ivr.channels.voicemail_rules import VoiceMessage
from ivr.channels.voicemail_store import ingest_voice_message
from ivr.crm.cli import crm_group
from ivr.crm.store import open_store


async def fill(url: str) -> None:
    store = await open_store(url)
    now = datetime.now(timezone.utc)
    try:
        for n in range(3):
            await ingest_sms(store, InboundSms(f"gw:{n}", f"+3361100000{n}", "", "hello"), queue="q",
                             priority=0, safety=None, pv_queue="pv", pv_priority=9, now=now)
        fax = parse_fax("1796.1", "eDE=:eDE=:FAILED:0:eA==:eA==")
        await ingest_fax(store, fax, None, "the fax failed", queue="q", priority=0, now=now)
        vm = await ingest_voice_message(store, VoiceMessage("c9", "+33611", "q", 0, "fr", 3.0, None), b"x",
                                        None, safety=None, pv_queue="pv", pv_priority=9, due=now, now=now)
        await record_reply(store, vm.task_id, message_id="cb-1", agent="gina", sender="gina",
                           recipients="+33611", subject="", text="called back", refs="", now=now)
    finally:
        await store.close()


def test_sms_fax_and_voice_messages_are_reported_per_channel(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/crm.db"
    asyncio.run(fill(url))
    res = CliRunner().invoke(crm_group, ["report", "--crm", url, "--by", "channel", "--format", "json"],
                             obj={}, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    rows = {r["channel"]: r for r in json.loads(res.output)["rows"]}
    assert rows["sms"]["volume"] == 3 and rows["sms"]["backlog"] == 3
    assert rows["fax"]["volume"] == 1
    assert rows["voicemail"]["volume"] == 1 and rows["voicemail"]["responded"] == 1
