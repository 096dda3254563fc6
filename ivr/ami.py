"""The AMI link: panoramisk's Manager, wrapped once with the guard rails it lacks.

panoramisk 1.4 returns from connect() before login, has no timeouts on action futures, does not
check ping replies (a half-open link goes unnoticed), re-sends pending actions only after
FullyBooted, and close() leaves a reconnect scheduled. This wrapper waits for login, puts a
timeout on every action, pings and reconnects itself, and really stops on close().
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from panoramisk import Manager

from ivr.config import AmiSettings

log = logging.getLogger(__name__)
EventHandler = Callable[[dict[str, str]], None]


class AmiError(Exception):
    """An AMI action failed or timed out; the message names the action."""


class AmiLink:
    def __init__(self, settings: AmiSettings, on_event: EventHandler,
                 on_login: Callable[[], None] | None = None,
                 ping_every: float = 2.0):
        self.settings = settings
        self._on_event = on_event
        self._on_login = on_login
        self._ping_every = ping_every
        self._logged_in = asyncio.Event()
        self._closed = False
        self._pinger: asyncio.Task | None = None
        self.manager = Manager(
            host=settings.host, port=settings.port, username=settings.username,
            secret=settings.secret(), ping_delay=10**6, reconnect_timeout=1,
            on_login=self._logged_in_cb, on_disconnect=self._disconnected_cb,
        )
        self.manager.register_event("*", self._dispatch)

    @property
    def connected(self) -> bool:
        return self._logged_in.is_set()

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

    async def action(self, action: dict[str, Any], timeout: float | None = None,
                     as_list: bool | None = None) -> Any:
        if not self.connected:
            raise AmiError(f"AMI {action.get('Action')}: not connected to Asterisk")
        future = self.manager.send_action(dict(action), as_list=as_list)
        try:
            return await asyncio.wait_for(asyncio.shield(future),
                                          timeout or self.settings.action_timeout)
        except TimeoutError:
            future.cancel()
            raise AmiError(f"AMI {action.get('Action')}: no answer within "
                           f"{timeout or self.settings.action_timeout:.0f} s") from None

    async def originate(self, channel: str, *, application: str | None = None,
                        data: str = "", context: str | None = None, exten: str | None = None,
                        caller_id: str = "", variables: dict[str, str] | None = None,
                        timeout_s: float = 30, channel_id: str | None = None) -> Any:
        """An async Originate; `channel_id` becomes the new channel's Uniqueid, so its
        events can be told apart."""
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
        return await self.action(action)

    async def close(self) -> None:
        self._closed = True
        if self._pinger:
            self._pinger.cancel()
        self.manager.connect = lambda *a, **k: None     # cancel any reconnect already scheduled
        self.manager.close()

    # ---- internals -----------------------------------------------------------------------
    def _logged_in_cb(self, manager: Manager) -> None:
        log.info("AMI logged in to %s:%d", self.settings.host, self.settings.port)
        self._logged_in.set()
        if self._on_login:
            self._on_login()

    def _disconnected_cb(self, manager: Manager, exc: Exception | None) -> None:
        if not self._closed:
            log.warning("AMI link to %s:%d lost; reconnecting", self.settings.host, self.settings.port)
        self._logged_in.clear()

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
                continue
            try:
                await self.action({"Action": "Ping"}, timeout=3)
            except AmiError:
                log.warning("AMI ping unanswered: dropping the link to reconnect")
                self._logged_in.clear()
                protocol = self.manager.protocol
                if protocol is not None and getattr(protocol, "transport", None):
                    protocol.transport.abort()
