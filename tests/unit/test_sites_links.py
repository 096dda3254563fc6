"""One AMI link per site (ivr/app/site_links.py): events tagged with their site, phones' states
from their home site only, answers over a trunk told as the agent's, and actions sent to the
Asterisk that has the phone or the channel."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ivr.app.site_links import SiteLinks
from ivr.sites.dialing import SiteMap
from ivr.sites.settings import SiteSettings

SITES = [SiteSettings.model_validate({"name": "paris", "ami": {"host": "127.0.0.1", "port": 5038},
                                      "trunk": "to-paris", "agents": ["alice"]}),
         SiteSettings.model_validate({"name": "lyon", "ami": {"host": "127.0.0.1", "port": 5039},
                                      "trunk": "to-lyon", "agents": ["bob", "carol"]})]
ENDPOINTS = {"alice": "alice", "bob": "bob-phone", "carol": "carol"}


class FakeLink:
    """What SiteLinks needs of an AmiLink; records the actions sent to it."""

    def __init__(self, settings: Any, on_event: Any, on_login: Any) -> None:
        self.settings, self.on_event, self.on_login = settings, on_event, on_login
        self.connected, self.reconnects = True, 0
        self.sent: list[dict] = []

    async def action(self, action: dict, timeout: float | None = None, as_list: Any = None) -> dict:
        self.sent.append(action)
        return {"Response": "Success", "To": self.settings.port}

    async def originate(self, channel: str, **kw: Any) -> dict:
        self.sent.append({"Action": "Originate", "Channel": channel})
        return {"Response": "Success"}


@pytest.fixture
def links(monkeypatch: pytest.MonkeyPatch) -> tuple[SiteLinks, list[dict]]:
    monkeypatch.setenv("IVR_AMI_SECRET", "k3T9-vQz7-Lm2P-x8Rw")
    seen: list[dict] = []
    sites = SiteLinks(SiteMap.build(SITES, ENDPOINTS), SITES, on_event=seen.append,
                      on_login=lambda site: None, presence=lambda site, link: None, link=FakeLink)
    return sites, seen


def test_events_carry_their_site_and_phones_count_from_home_only(links) -> None:
    sites, seen = links
    paris, lyon = sites.links["paris"], sites.links["lyon"]
    paris.on_event({"Event": "DeviceStateChange", "Device": "PJSIP/alice", "State": "INUSE"})
    lyon.on_event({"Event": "DeviceStateChange", "Device": "PJSIP/alice", "State": "UNAVAILABLE"})
    lyon.on_event({"Event": "DeviceStateChange", "Device": "PJSIP/bob-phone", "State": "INUSE"})
    lyon.on_event({"Event": "DeviceStateChange", "Device": "PJSIP/to-paris", "State": "NOT_INUSE"})
    assert [(e["Site"], e["Device"]) for e in seen] == [
        ("paris", "PJSIP/alice"), ("lyon", "PJSIP/bob-phone"), ("lyon", "PJSIP/to-paris")]


def test_an_answer_over_the_trunk_is_the_agents(links) -> None:
    sites, seen = links
    lyon = sites.links["lyon"]
    lyon.on_event({"Event": "DialBegin", "Uniqueid": "lyon-1.1", "DestUniqueid": "lyon-1.2",
                   "DestChannel": "PJSIP/to-paris-00000002", "DialString": "alice@to-paris"})
    lyon.on_event({"Event": "DialEnd", "Uniqueid": "lyon-1.1", "DestUniqueid": "lyon-1.2",
                   "DestChannel": "PJSIP/to-paris-00000002", "DialStatus": "ANSWER"})
    # a local leg keeps its channel
    lyon.on_event({"Event": "DialEnd", "Uniqueid": "lyon-1.5", "DestUniqueid": "lyon-1.6",
                   "DestChannel": "PJSIP/bob-phone-00000003", "DialStatus": "ANSWER"})
    from ivr.telephony.channels import endpoint_of
    ends = [e for e in seen if e["Event"] == "DialEnd"]
    assert [endpoint_of(e["DestChannel"]) for e in ends] == ["alice", "bob-phone"]


def test_actions_go_to_the_asterisk_that_has_the_phone_or_the_channel(links) -> None:
    sites, _ = links
    paris, lyon = sites.links["paris"], sites.links["lyon"]
    lyon.on_event({"Event": "Newstate", "Channel": "PJSIP/test-caller-00000001",
                   "ChannelStateDesc": "Up"})

    async def run() -> None:
        await sites.ami.originate("PJSIP/bob-phone", context="hotline-callback", exten="0611")
        await sites.ami.originate("PJSIP/alice", context="hotline-callback", exten="0612")
        await sites.ami.action({"Action": "ControlPlayback", "Control": "stop",
                                "Channel": "PJSIP/test-caller-00000001"})
        await sites.ami.action({"Action": "Setvar", "Variable": "IVR_ACTIVE", "Value": "agi://x"})
        lyon.connected = False
        await sites.ami.action({"Action": "Setvar", "Variable": "IVR_ACTIVE", "Value": "agi://y"})
    asyncio.run(run())
    assert [a.get("Channel") or a["Value"] for a in paris.sent] == [
        "PJSIP/alice", "agi://x", "agi://y"]
    assert [a.get("Channel") or a["Value"] for a in lyon.sent] == [
        "PJSIP/bob-phone", "PJSIP/test-caller-00000001", "agi://x"]
    assert sites.ami.connected          # one site up is enough to originate
    lyon.on_event({"Event": "Hangup", "Channel": "PJSIP/test-caller-00000001"})
    assert "PJSIP/test-caller-00000001" not in sites.channel_site


def test_a_lost_link_pauses_its_sites_agents_and_its_return_readies_them(links, caplog) -> None:
    sites, _ = links
    sites.outages = type(sites.outages)({"paris": 0.2, "lyon": 0.2})
    states = {"alice": ("ready", ""), "bob": ("ready", ""), "carol": ("paused", "lunch")}
    commands: list[tuple[str, str, str]] = []

    def command(action: str, agent: str, reason: str) -> dict:
        commands.append((action, agent, reason))
        states[agent] = ("paused", reason) if action == "pause" else ("ready", "")
        return {"ok": True}

    async def run() -> None:
        watch = asyncio.ensure_future(sites.watch(command, states.__getitem__, every_s=0.05))
        await asyncio.sleep(0.1)
        sites.links["lyon"].connected = False
        await asyncio.sleep(0.5)
        assert commands == [("pause", "bob", "site lyon unreachable")]
        sites.links["lyon"].connected = True
        await asyncio.sleep(0.2)
        watch.cancel()
    with caplog.at_level("WARNING", logger="ivr.app.sites"):
        asyncio.run(run())
    assert commands[1:] == [("ready", "bob", "")]
    assert states["carol"] == ("paused", "lunch") and states["alice"] == ("ready", "")
    text = caplog.text
    assert "site lyon unreachable: no AMI link to its Asterisk at 127.0.0.1:5039" in text
    assert "agents are paused (site lyon unreachable): bob" in text
    assert "site lyon reachable again" in text


def test_a_callback_waits_for_the_agents_home_site_not_the_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IVR_AMI_SECRET", "k3T9-vQz7-Lm2P-x8Rw")
    sites = SiteLinks(SiteMap.build(SITES, ENDPOINTS), SITES, on_event=lambda e: None,
                      on_login=lambda site: None, presence=lambda site, link: (site, link), link=FakeLink)
    sites.links["paris"].connected = False                 # paris down: lyon's callbacks go on
    site, link = sites.presence_of_agent("bob")
    assert site == "lyon" and link is sites.links["lyon"] and link.connected
    assert sites.presence_of_agent("alice")[0] == "paris"
    assert sites.presence_of_agent("nobody")[0] == "paris"   # no home: the first site, as before


class AstDbLink(FakeLink):
    """A site's Asterisk with an AstDB family of spooled SMS."""

    def __init__(self, settings: Any, on_event: Any, on_login: Any) -> None:
        super().__init__(settings, on_event, on_login)
        self.db = {f"sms-{settings.port}-{n}": f"value-{settings.port}-{n}" for n in range(2)}

    async def action(self, action: dict, timeout: float | None = None, as_list: Any = None) -> Any:
        self.sent.append(action)
        if action["Action"] == "DBGetTree":
            return [{"Event": "DBGetTreeResponse", "Key": f"/hotline_sms/{k}", "Val": v}
                    for k, v in self.db.items()] + [{"Event": "DBGetTreeComplete"}]
        if action["Action"] == "DBDel":
            del self.db[action["Key"]]
        return {"Response": "Success"}


def test_an_astdb_spool_is_read_and_emptied_at_every_site(monkeypatch: pytest.MonkeyPatch) -> None:
    from ivr.channels.astdb_spool import AstDbSpool
    monkeypatch.setenv("IVR_AMI_SECRET", "k3T9-vQz7-Lm2P-x8Rw")
    sites = SiteLinks(SiteMap.build(SITES, ENDPOINTS), SITES, on_event=lambda e: None,
                      on_login=lambda site: None, presence=lambda site, link: None, link=AstDbLink)
    handled: list[tuple[str, str]] = []

    async def handle(key: str, value: str) -> None:
        handled.append((key, value))
    spool = AstDbSpool("hotline_sms", lambda: sites.ami, handle)
    sites.links["lyon"].connected = False                  # a site down keeps its entries
    assert asyncio.run(spool.drain()) == 2 and sites.links["lyon"].db
    assert sorted(k for k, _ in handled) == ["sms-5038-0", "sms-5038-1"] and not sites.links["paris"].db
    sites.links["lyon"].connected = True                   # its link back: read there, deleted there
    assert asyncio.run(spool.drain()) == 2 and not sites.links["lyon"].db
    assert sorted(k for k, _ in handled)[2:] == ["sms-5039-0", "sms-5039-1"]
