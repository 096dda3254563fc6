"""The AMI link: panoramisk's Manager, wrapped once with the guard rails it lacks.

panoramisk 1.4 returns from connect() before login, has no timeouts on action futures, does not
check ping replies (a half-open link goes unnoticed), re-sends pending actions only after
FullyBooted, and close() leaves a reconnect scheduled. This wrapper waits for login, puts a
timeout on every action, pings and reconnects itself, and really stops on close().

When the link drops, actions still waiting for Asterisk's answer fail at once (AmiError) and
are never re-sent: panoramisk would replay them after the reconnect, and a replayed Originate
rings a phone twice if Asterisk had run the first one. A TCP connection that never logs in
(wrong secret, a stuck Asterisk) is dropped and retried rather than waited on forever.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from panoramisk import Manager
from panoramisk.ami_protocol import AMIProtocol

from ivr.config import AmiSettings

log = logging.getLogger(__name__)
EventHandler = Callable[[dict[str, str]], None]


class AmiError(Exception):
    """An AMI action failed or timed out; the message names the action."""


class _Protocol(AMIProtocol):
    """Notes a connection closed by the peer before panoramisk set the protocol up.

    panoramisk sets `factory` in the connect task's done-callback; uvloop (our default loop)
    can run connection_lost before that callback, when the peer closes at once (an AMI port
    behind a proxy whose Asterisk is gone, a full AMI). panoramisk then fails on the missing
    factory, and no reconnect is ever scheduled: the engine would stay without AMI for good."""

    lost_before_setup = False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.factory is None:
            self.lost_before_setup = True
            self.closed = True
            return
        super().connection_lost(exc)


class _Manager(Manager):
    def connection_made(self, f: asyncio.Future) -> None:
        if not f.cancelled() and f.exception() is None:
            protocol = f.result()[1]
            if getattr(protocol, "lost_before_setup", False):
                # Handled as any lost link: on_disconnect, then a reconnect in 1 s.
                self.connection_lost(ConnectionResetError("AMI closed the connection at once"))
                return
        super().connection_made(f)


class AmiLink:
    def __init__(self, settings: AmiSettings, on_event: EventHandler,
                 on_login: Callable[[], None] | None = None,
                 ping_every: float = 2.0, login_timeout: float = 5.0):
        self.settings = settings
        self._on_event = on_event
        self._on_login = on_login
        self._ping_every = ping_every
        self._login_timeout = login_timeout
        self._logged_in = asyncio.Event()
        self._closed = False
        self._pinger: asyncio.Task | None = None
        self._in_flight: dict[asyncio.Future, str] = {}   # awaiting Asterisk's answer → action
        self._tcp_up_since: float | None = None           # monotonic; None once logged in
        self._down_since: float | None = None             # monotonic; None while logged in
        self.reconnects = 0
        self.manager = _Manager(
            host=settings.host, port=settings.port, username=settings.username,
            secret=settings.secret(), ping_delay=10**6, reconnect_timeout=1,
            on_login=self._logged_in_cb, on_disconnect=self._disconnected_cb,
            on_connect=self._tcp_connected_cb, protocol_factory=_Protocol,
        )
        self.manager.register_event("*", self._dispatch)

    @property
    def connected(self) -> bool:
        return self._logged_in.is_set()

    def every_asterisk(self) -> list["AmiLink"]:
        """The Asterisk servers to read a spool from (several with sites: SitesAmi)."""
        return [self] if self.connected else []

    async def start(self, timeout: float = 10.0) -> None:
        """Connect and wait for the login; the link then keeps itself up."""
        self.manager.loop = asyncio.get_running_loop()
        self.manager.connect()
        self._pinger = asyncio.create_task(self._ping_loop())
        try:
            await asyncio.wait_for(self._logged_in.wait(), timeout)
        except TimeoutError:
            raise AmiError(f"no AMI login at {self.settings.host}:{self.settings.port} within "
                           f"{timeout:.0f} s: is Asterisk running and the secret right?") from None

    async def wait_connected(self, timeout: float) -> bool:
        """True once logged in (at once if already), False if still down after `timeout`."""
        try:
            await asyncio.wait_for(self._logged_in.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def action(self, action: dict[str, Any], timeout: float | None = None,
                     as_list: bool | None = None) -> Any:
        if not self.connected:
            raise AmiError(f"AMI {action.get('Action')}: not connected to Asterisk at "
                           f"{self.settings.host}:{self.settings.port} (the engine is "
                           "reconnecting; see the warnings above)")
        future = self.manager.send_action(dict(action), as_list=as_list)
        self._in_flight[future] = str(action.get("Action"))
        try:
            return await asyncio.wait_for(asyncio.shield(future),
                                          timeout or self.settings.action_timeout)
        except TimeoutError:
            future.cancel()
            raise AmiError(f"AMI {action.get('Action')}: no answer within "
                           f"{timeout or self.settings.action_timeout:.0f} s") from None
        finally:
            self._in_flight.pop(future, None)

    async def originate(self, channel: str, *, application: str | None = None,
                        data: str = "", context: str | None = None, exten: str | None = None,
                        caller_id: str = "", variables: dict[str, str] | None = None,
                        timeout_s: float = 30, channel_id: str | None = None,
                        queued_only: bool = False) -> Any:
        """An async Originate; `channel_id` becomes the new channel's Uniqueid, so its
        events can be told apart. panoramisk waits for the OriginateResponse (the answer, or
        the failure) within the action timeout; `queued_only`: return once Asterisk queued
        it, the outcome coming as events (outbound campaigns ring longer than the timeout)."""
        action: dict[str, Any] = {"Action": "Originate", "Channel": channel, "Async": "true",
                                  "Timeout": str(int(timeout_s * 1000)), "CallerID": caller_id}
        if channel_id:
            action["ChannelId"] = channel_id
        if application:
            action.update(Application=application, Data=data)
        else:
            action.update(Context=context, Exten=exten, Priority="1")
        if variables:
            action["Variable"] = ",".join(f"{k}={v}" for k, v in variables.items())
        return await self.action(action, as_list=False if queued_only else None)

    async def close(self) -> None:
        self._closed = True
        if self._pinger:
            self._pinger.cancel()
        self.manager.connect = lambda *a, **k: None     # cancel any reconnect already scheduled
        self.manager.close()

    # ---- internals -----------------------------------------------------------------------
    def _tcp_connected_cb(self, manager: Manager) -> None:
        self._tcp_up_since = time.monotonic()

    def _logged_in_cb(self, manager: Manager) -> None:
        self._tcp_up_since = None
        if self._down_since is None:
            log.info("AMI logged in to %s:%d", self.settings.host, self.settings.port)
        else:
            self.reconnects += 1
            log.info("AMI logged in to %s:%d again after %.1f s without the link; re-reading "
                     "device and channel states", self.settings.host, self.settings.port,
                     time.monotonic() - self._down_since)
        self._down_since = None
        self._logged_in.set()
        if self._on_login:
            self._on_login()

    def _disconnected_cb(self, manager: Manager, exc: Exception | None) -> None:
        self._tcp_up_since = None
        was_up = self._logged_in.is_set() or self._down_since is None
        self._logged_in.clear()
        failed = self._fail_unanswered("the link to Asterisk dropped before its answer; not "
                                       "re-sent, it may or may not have run")
        if self._closed:
            return
        if was_up:
            self._down_since = time.monotonic()
            log.warning("AMI link to %s:%d lost; reconnecting (every 1 s). Until it is back, "
                        "phone states are not seen and AMI actions fail at once%s",
                        self.settings.host, self.settings.port,
                        f" ({failed} in flight failed)" if failed else "")

    def _fail_unanswered(self, why: str) -> int:
        """Fail every action still waiting for Asterisk, and keep panoramisk from re-sending
        them after the reconnect (its awaiting list holds the same futures)."""
        self.manager.awaiting_actions.clear()
        failed = 0
        for future, name in list(self._in_flight.items()):
            if not future.done():
                future.set_exception(AmiError(f"AMI {name}: {why}"))
                failed += 1
        self._in_flight.clear()
        return failed

    def _dispatch(self, manager: Manager, message: Any) -> None:
        try:
            self._on_event(dict(message.items()))
        except Exception:
            log.exception("AMI event handler failed on %s", message.get("Event"))

    async def _ping_loop(self) -> None:
        """Ping and check the answer: a half-open link is closed so panoramisk reconnects."""
        while not self._closed:
            await asyncio.sleep(self._ping_every)
            if not self.connected:
                self._drop_if_login_stuck()
                continue
            try:
                await self.action({"Action": "Ping"}, timeout=3)
            except AmiError:
                if not self.connected:     # the link dropped meanwhile: already reconnecting
                    continue
                log.warning("AMI ping unanswered: dropping the link to reconnect")
                self._logged_in.clear()
                protocol = self.manager.protocol
                if protocol is not None and getattr(protocol, "transport", None):
                    protocol.transport.abort()

    def _drop_if_login_stuck(self) -> None:
        """Connected over TCP but not logged in for too long: panoramisk would wait forever
        (a wrong secret gets no retry either), so drop the connection and try again."""
        since = self._tcp_up_since
        if since is None or time.monotonic() - since < self._login_timeout:
            return
        log.warning("AMI at %s:%d accepted the connection but no login succeeded within "
                    "%.0f s: retrying. Check the secret (IVR_AMI_SECRET or ami.secret_file) "
                    "and that user %r exists in Asterisk's manager.conf", self.settings.host,
                    self.settings.port, self._login_timeout, self.settings.username)
        self._tcp_up_since = None
        protocol = self.manager.protocol
        if protocol is not None and getattr(protocol, "transport", None):
            protocol.transport.abort()
