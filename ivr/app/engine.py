"""The engine process, the composition root: it builds the parts, wires them with narrow
interfaces and runs their lifecycle. Decisions live in the pure cores (acd/, ivr/dialplan/,
ivr/call/flow.py), I/O in the adapters (ivr/telephony/, ivr/crm/, ivr/app/bus.py); no part
receives the engine.

    AGI server ─► routes ─► CallSession (adapter) ─► CallFlow (core)
                                 │ CallContext: plans, store, bus, ACD driver, callbacks, speech
    AMI link ─► AgentPresence (device states, answers, re-sync) ─► AcdDriver ─► Acd (core)
    control socket ─► ControlApi ─► AgentCommands / AcdDriver / PlanHolder
                   └► LiveFeed (subscribe): agent states and offers for the desk, never waited on
    calls, ACD ─► Outbox ─► LiveFeed + MQTT (EventBus)
"""
from __future__ import annotations

import asyncio
import gc
import logging
import signal
from typing import Any
from collections.abc import Coroutine
from datetime import datetime, timedelta, timezone

from acd import actions as act
from ivr.app.acd_driver import AcdDriver
from ivr.app.agent_restore import AgentRestore
from ivr.app.agents import AgentCommands
from ivr.app.bus import EventBus
from ivr.app.cluster_member import ClusterMember
from ivr.app.campaigns import Campaigns, plan_holidays
from ivr.app.feed import LiveFeed, Outbox
from ivr.app.control import ControlServer
from ivr.app.control_api import ControlApi
from ivr.app.crm_startup import CrmStartup
from ivr.app.plans import PlanHolder
from ivr.app.presence import AgentPresence
from ivr.app.routes import agi_router
from ivr.app.site_links import SiteLinks
from ivr.app.sites import load_site_map
from ivr.app.speech import Speech
from ivr.call.callbacks import Callbacks
from ivr.call.context import CallContext
from ivr.cluster.gate import standby_gate
from ivr.config import Settings
from ivr.crm.outbound import CampaignStore
from ivr.crm.store import CrmStore, open_store
from ivr.knowledge.store import KnowledgeBase
from ivr.knowledge.sync import KnowledgeWatcher
from ivr.telephony.agi.server import AgiServer
from ivr.telephony.ami import AmiLink

log = logging.getLogger(__name__)


class Engine:
    def __init__(self, settings: Settings, *, agents_ready: bool = True,
                 clock: datetime | None = None, restore_agents: bool = True):
        self.settings = settings
        # The dialplan's clock (business hours); tests and the demo pin it, calls keep real time.
        self._clock_offset = (clock - datetime.now(timezone.utc)) if clock else timedelta(0)
        self.agents_ready = agents_ready
        self.plans = PlanHolder(settings)
        acd_config = settings.acd_config()
        self.agent_endpoint = {a.name: a.endpoint for a in acd_config.agents}
        self.endpoint_agent = {e: a for a, e in self.agent_endpoint.items()}
        self.site_map = load_site_map(settings)   # sites: (issue 16); None: the one `ami:`
        self.bus = EventBus(settings.mqtt)
        self.feed = LiveFeed(current=lambda: [(f"agents/{a}", self.acd.agent_view(a))
                                              for a in self.agent_endpoint])
        self.outbox = Outbox(self.bus, self.feed)
        self.speech = Speech.from_settings(settings)
        self.acd = AcdDriver(acd_config, start_callback=self._start_callback,
                             agents_touched=self._publish_agents)
        self.agents = AgentCommands(self.acd, self.agent_endpoint, self.endpoint_agent,
                                    settings.agents_file,
                                    lambda: self.store)
        self.store: CrmStore | None = None
        self.knowledge: KnowledgeBase | None = None     # the desk searches and suggests with it
        self.agent_restore = AgentRestore(  # agents' states from before a restart (the CRM's)
            list(self.agent_endpoint), agents_ready, use_records=restore_agents,
            handle=self.acd.handle, command=self.agents.command,
            record=lambda *event: self.store.add_agent_event(*event),
            busy_agents=self.acd.agents_in_use)
        self.callbacks: Callbacks | None = None
        self.presence: AgentPresence | None = None
        self.crm_startup: CrmStartup | None = None
        self.ami: AmiLink | None = None
        self.sites: SiteLinks | None = None        # sites: one AMI link per site (self.ami routes)
        self.agi: AgiServer | None = None
        self.control: ControlServer | None = None
        self.cluster: ClusterMember | None = None  # cluster.enabled: active or standby
        self.stepped_down = False                  # lost the cluster's lock: exits at once
        self.campaigns: Campaigns | None = None    # outbound (issue 15)
        self.stopping = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self.tasks: Any = None      # ivr/app/tasks.py TaskHub when a channel is configured
        self.email: Any = None
        self.sms: Any = None        # ivr/channels/sms.py SmsChannel when channels.sms is set
        self.fax: Any = None        # ivr/channels/fax.py FaxChannel when channels.fax is set
        self.voicemail: Any = None  # ivr/channels/voicemail.py when channels.voicemail is set
        self.chat: Any = None       # ivr/channels/chat_live.py ChatChannel (channels.chat)
        self.channel_worker: Any = None  # ivr/app/channel_worker.py when channels.worker

    def dialplan_now(self) -> datetime:
        return datetime.now(timezone.utc) + self._clock_offset

    # ---- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        s = self.settings
        self.plans.load_initial()
        await self.speech.start(s)
        self.bus.start()
        # A CRM database down at start does not stop the engine: the store spools (see
        # ivr/crm/README.md) and what start-up reads from it runs once it answers.
        self.store = await open_store(s.crm_url(), spool_dir=s.path(s.crm.spool_dir),
                                      linger_ms=s.crm.linger_ms, documentation=s.documentation)
        self.wire_crm_parts(datetime.now(timezone.utc))    # calls from before: the last run's
        self.campaigns = Campaigns(CampaignStore(self.store), lambda: self.ami, self.dialplan_now,
                                   lambda: plan_holidays(self.plans.current.plan), self._spawn,
                                   acd=self.acd)
        await self._join_cluster()
        await self._start_ami()
        if self.cluster is None:
            await self.crm_startup.run()      # in a cluster: once active (_became_active)
        route = agi_router(self._call_context(), self.agents, lambda: self.ami, self.campaigns.answered_call)
        if self.cluster is not None:
            route = standby_gate(route, self.cluster.may_route)
        self.agi = AgiServer(s.agi.host, s.agi.port, route, s.agi.allowed_hosts)
        await self.agi.start()
        self.control = ControlServer(s.path(s.control.socket),
                                     ControlApi(self.agents, self.acd, self.plans,
                                                lambda: self.store.spool_depth if self.store else 0,
                                                self.campaigns.command, tasks=lambda: self.tasks,
                                                sites=self._site_rows),
                                     stream=self.feed.serve)
        await self.control.start()
        gc.freeze()    # start-up objects live forever: keep them out of GC pauses on calls
        self._spawn(self.acd.run_timer())
        if self.cluster is None:              # in a cluster: once active (_became_active)
            self._spawn(self._run_campaigns())
        self._spawn(self._watch_plan())
        # The knowledge base follows its folder (ivr/knowledge/): indexed now, in the background
        # (the writer's queue: calls' records are never held up), then on every saved article.
        self.knowledge = KnowledgeBase(self.store)
        self._spawn(KnowledgeWatcher(self.knowledge, s.path(s.knowledge.dir)).run(s.knowledge.watch_s))
        if self.bus.enabled:
            self._spawn(self._publish_queue_stats())
        if self.cluster is None:
            await self._start_channels()
        else:                                # everything is up: now it may take over
            self._spawn(self.cluster.run())

    # ---- an active engine and a standby (ivr/app/cluster_member.py) --------------------------
    async def _join_cluster(self) -> None:
        if self.settings.cluster.enabled:
            self.cluster = ClusterMember(self.settings, self.acd, ami=lambda: self.ami,
                                         spawn=self._spawn, on_active=self._became_active,
                                         step_down=self._step_down)
            await self.cluster.join()

    def _became_active(self) -> None:
        # Calls unfinished before the takeover were the former leader's: from now on, ours.
        self.crm_startup.started_at = datetime.now(timezone.utc)
        self._spawn(self.crm_startup.run())
        self._spawn(self._run_campaigns())     # outbound calls too: only the active dials
        self._spawn(self._start_channels())    # and only the active reads the mailboxes

    def _step_down(self) -> None:
        self.stepped_down = True
        self.stopping.set()

    async def _start_channels(self) -> None:
        """Non-voice channels (ivr/channels), each only when configured in `channels:`."""
        s = self.settings
        channels = s.channels
        email, sms, chat = channels.email, channels.sms, channels.chat
        fax, voicemail = channels.fax, channels.voicemail
        if email is None and sms is None and fax is None and voicemail is None and chat is None:
            return
        from ivr.app.channel_worker import ChannelWorker
        from ivr.app.chat_relay import ChatRelay
        from ivr.channels.worker import worker_socket
        from ivr.app.tasks import (TaskHub, start_chat, start_email, start_email_replies, start_fax, start_sms,
                                   start_voicemail)
        self.tasks = TaskHub(self.acd, self.store, self.outbox, self._spawn)
        reloaded = await self.tasks.reload()
        # E-mail and chat in their own process (it reads the same engine.yaml); e-mail replies
        # stay here, chat replies are relayed to it.
        in_worker = channels.worker_enabled() and s.file is not None
        if in_worker:
            if email is not None:
                self.email = self.tasks.email = start_email_replies(email, self.tasks.store)
            if chat is not None:
                self.chat = ChatRelay(self.tasks, worker_socket(s.path(s.control.socket)), self._spawn)
            self.channel_worker = ChannelWorker(s.file, verbose=logging.getLogger().level <= logging.INFO,
                                                on_restart=self.tasks.catch_up)
            self._spawn(self.channel_worker.run())
        elif email is not None:
            self.email = start_email(email, self.tasks, self._spawn)
        if sms is not None:
            self.sms = start_sms(sms, self.tasks, lambda: self.ami, self._spawn)
        if fax is not None:
            self.fax = start_fax(fax, self.tasks, lambda: self.ami, self._spawn)
        if voicemail is not None:
            self.voicemail = start_voicemail(voicemail, self.tasks, lambda: self.ami, self.speech,
                                             self.agent_endpoint, self._spawn)
        if chat is not None and not in_worker:
            self.chat = start_chat(chat, self.tasks, self._spawn)
            log.info("channels: web chat and form on http://%s:%d/", chat.host, chat.port)
        log.info("channels: %s started (%d open task(s) reloaded)",
                 ", ".join(n for n, c in (("e-mail", email), ("SMS", sms), ("fax", fax),
                                          ("voice messages", voicemail), ("web chat", chat)) if c), reloaded)

    def wire_crm_parts(self, started_at: datetime) -> None:
        """The parts that need the CRM store, once it is open."""
        s = self.settings
        self.callbacks = Callbacks(self.acd, self.store, self.agent_endpoint,
                                   lambda q: self.acd.queue(q).ring_timeout, lambda: self.ami)
        self.presence = AgentPresence(self.acd, self.callbacks, self.agent_endpoint,
                                      self.endpoint_agent, self._spawn, f"{s.ami.host}:{s.ami.port}")
        self.crm_startup = CrmStartup(s, self.store, self.callbacks, self.agent_restore,
                                      self.endpoint_agent, frozenset(self.acd.queues),
                                      started_at, self._spawn)

    async def _run_campaigns(self) -> None:
        """Campaigns running when the engine stopped go on (their calls without an outcome are
        'interrupted': no number is dialled twice), then the campaigns' clock."""
        try:
            await self.campaigns.restore()
        except Exception:
            log.exception("outbound campaigns could not be restored from the CRM; none runs")
        await self.campaigns.run()

    def _on_ami_event(self, event: dict[str, str]) -> None:
        (self.sites.presence(event["Site"]) if self.sites else self.presence).on_ami_event(event)
        if self.campaigns is not None:
            self.campaigns.on_ami_event(event)
        if self.sms is not None:
            self.sms.on_ami_event(event)
        if self.fax is not None:
            self.fax.on_ami_event(event)

    async def _start_ami(self) -> None:
        if self.site_map is not None:     # several sites: ivr/app/site_links.py
            self.sites = SiteLinks(self.site_map, self.settings.sites, on_event=self._on_ami_event,
                                   on_login=self._on_ami_login, presence=self._site_presence)
            self.ami = self.sites.ami
            self.presence = self.sites.presence(self.site_map.sites[0])
            await self.sites.start()
            self._spawn(self.sites.watch(
                self.agents.command, lambda a: (self.acd.agent_state(a).value,
                                                self.acd.core.agent_reason(a)),
                may_act=lambda: self.cluster is None or self.cluster.may_route()))
            return
        self.ami = AmiLink(self.settings.ami, self._on_ami_event, on_login=self._on_ami_login)
        self.presence.ami = self.ami
        try:
            await self.ami.start()
        except Exception as exc:   # calls still work without AMI; availability is then ours alone
            log.error("AMI unavailable (%s); serving calls without device states", exc)

    def _site_rows(self) -> list[dict]:
        if self.sites is None:
            return []
        return self.sites.status(lambda a: (self.acd.agent_state(a).value,
                                            self.acd.core.agent_reason(a)))

    def _site_presence(self, site: str, link: AmiLink) -> AgentPresence:
        presence = AgentPresence(self.acd, self.callbacks, self.agent_endpoint, self.endpoint_agent,
                                 self._spawn, f"{link.settings.host}:{link.settings.port}",
                                 home_agents=self.site_map.agents_at(site))
        presence.ami = link
        return presence

    def _on_ami_login(self, site: str | None = None) -> None:
        (self.sites.presence(site) if self.sites and site else self.presence).on_login()
        if self.cluster:
            self.cluster.announce_active()
        if self.crm_startup:
            self.crm_startup.on_ami_login()
        if self.sms is not None:
            self.sms.on_ami_login()
        if self.fax is not None:
            self.fax.on_ami_login()

    def _call_context(self) -> CallContext:
        s = self.settings
        return CallContext(
            plans=self.plans, store=self.store, bus=self.outbox, acd=self.acd,
            callbacks=self.callbacks, speech=self.speech, agent_endpoint=self.agent_endpoint,
            endpoint_agent=self.endpoint_agent,
            queue_names=frozenset(self.acd.queues), destinations=s.destinations(),
            sounds_dir=s.path(s.sounds.dir), sounds_prefix=s.sounds.asterisk_prefix,
            wrap_up=self.agents.wrap_up, dialplan_now=self.dialplan_now,
            resume=self.cluster.resume if self.cluster else lambda call_id: None,
            note_survey_opt_in=self.cluster.survey_opt_in if self.cluster else lambda call_id: None,
            voice_messages=lambda: self.voicemail, sites=self.site_map)

    async def stop(self, grace_s: float = 30.0) -> None:
        """Graceful stop: take no new calls, let live calls finish (or hand them back to
        Asterisk's fallback when the grace period ends), then flush the CRM."""
        self.stopping.set()
        if self.campaigns:
            self.campaigns.pause_all()       # no new outbound calls; the CRM keeps their state
        if self.agi:
            await self.agi.stop_accepting()
            live = list(self.agi.sessions)
            if live:
                log.info("waiting up to %.0f s for %d live call(s)", grace_s, len(live))
                _, pending = await asyncio.wait(live, timeout=grace_s)
                for task in pending:   # CancelledError in the session hands the call back
                    task.cancel()
                if pending:
                    await asyncio.wait(pending, timeout=5)
        for task in self._tasks:
            task.cancel()
        if self.channel_worker:
            await self.channel_worker.stop()
        self.feed.close()
        if self.control:
            await self.control.stop()
        await self.speech.stop()
        if self.ami:
            await self.ami.close()
        await self.bus.stop()
        if self.cluster:           # last: the standby takes over once our calls are gone
            await self.cluster.close()
        if self.store:
            await self.store.close()

    async def serve_forever(self, grace_s: float = 30.0) -> None:
        await self.start()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stopping.set)
        loop.add_signal_handler(signal.SIGINT, self.stopping.set)
        loop.add_signal_handler(signal.SIGHUP, self.plans.reload)
        log.info("hotline engine ready")
        await self.stopping.wait()
        log.info("stopping: no new calls")
        await self.stop(0.0 if self.stepped_down else grace_s)

    def _spawn(self, coro: Coroutine) -> None:
        """A background job, cancelled on stop; it leaves the list when done, so AMI
        reconnects over weeks do not grow it."""
        task = asyncio.ensure_future(coro)
        self._tasks.append(task)
        task.add_done_callback(lambda t: t in self._tasks and self._tasks.remove(t))

    def _start_callback(self, action: act.StartCallback) -> None:
        if self.cluster is not None and not self.cluster.may_route():
            log.warning("callback %s not started: this engine is not the active one", action)
            return
        (self.sites.presence_of_agent(action.agent) if self.sites else self.presence).start_callback(action)

    async def _watch_plan(self, every_s: float = 1.0) -> None:
        """Hot reload when the dialplan file is saved (SIGHUP does the same at once)."""
        while True:
            await asyncio.sleep(every_s)
            try:
                if self.plans.changed_on_disk():
                    self.plans.reload()
            except Exception:     # a reload failure must never stop the watching
                log.exception("dialplan reload failed; the running plan stays")

    # ---- live events (the desk's feed, MQTT) ---------------------------------------------
    def _publish_agents(self, agents: set[str]) -> None:
        # agent_view is O(1); the full snapshot scans queues × agents and is for displays.
        if self.campaigns is not None:      # campaign agents: the pacers follow the ACD
            self.campaigns.on_agents_changed(agents)
        if self.outbox.enabled:
            for agent in agents:
                self.outbox.publish(f"agents/{agent}", self.acd.agent_view(agent), retain=True)

    async def _publish_queue_stats(self, every_s: float = 2.0) -> None:
        while True:
            for queue in self.acd.snapshot()["queues"]:
                self.bus.publish(f"queues/{queue['queue']}", queue, retain=True)
            await asyncio.sleep(every_s)
