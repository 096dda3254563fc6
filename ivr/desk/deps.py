"""What the desk's routes are given: DeskDeps, built once by `ivr desk serve` (or a test)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from starlette.templating import Jinja2Templates

from ivr.config import DeskSettings, Settings
from ivr.crm.store import CrmStore

from .passwords import Passwords
from .policy import Throttle
from .submissions import RecentSubmissions
from .users import DeskAccounts


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class DeskDeps:
    settings: Settings
    store: CrmStore
    templates: Jinja2Templates
    engine: Any = None                       # the engine link (control socket), added by the lead
    passwords: Passwords = field(default_factory=Passwords)
    agents: frozenset[str] = frozenset()     # agent names in agents.yaml
    now: Callable[[], datetime] = utc_now    # the one clock of the desk (tests may pass theirs)
    submissions: RecentSubmissions = field(default_factory=RecentSubmissions)   # saves sent twice

    @property
    def accounts(self) -> DeskAccounts:
        return DeskAccounts(self.store)

    @property
    def desk(self) -> DeskSettings:
        return self.settings.desk

    @property
    def tls(self) -> bool:
        return bool(self.desk.tls_cert)

    @property
    def idle(self) -> timedelta:
        return timedelta(minutes=self.desk.session_idle_minutes)

    @property
    def max_age(self) -> timedelta:
        return timedelta(hours=self.desk.session_max_hours)

    @property
    def throttle(self) -> Throttle:
        return Throttle(self.desk.login_max_failures, timedelta(minutes=self.desk.login_window_minutes))

    def cookie_name(self, base: str) -> str:
        """`__Host-` under TLS: the browser then insists on Secure, Path=/ and no Domain."""
        return f"__Host-{base}" if self.tls else base
