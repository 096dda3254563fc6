"""Desk users, sessions and sign-in failures in the CRM database (migration 7).

Writes go through the store's writer queue (`_job`: one transaction each, in order with the
engine's writes); reads go to the reader connection. Session tokens are stored only as a
SHA-256 hash: a copy of the database signs nobody in."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ivr.crm import codec
from ivr.crm.backends import Tx
from ivr.crm.errors import CrmError
from ivr.crm.store import CrmStore

from .policy import LANGUAGES, ROLES, DeskUser, SessionTimes

_USER_COLS = "name, role, language, full_name, disabled, password_hash, created_at, updated_at"


class DeskError(CrmError):
    """A people's command on desk users failed (unknown user, name taken…)."""


@dataclass(frozen=True)
class UserRow:
    user: DeskUser
    password_hash: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class SessionRow:
    token_hash: str
    user: DeskUser
    csrf_token: str
    times: SessionTimes


@dataclass(frozen=True)
class NewSession:
    token: str           # goes into the cookie, never into the database
    csrf_token: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class DeskAccounts:
    """The desk's accounts on a CrmStore (which the caller opens and closes)."""

    def __init__(self, store: CrmStore) -> None:
        self.store = store

    # ------------------------------------------------------------------ users
    async def add_user(self, name: str, role: str, language: str, password_hash: str,
                       now: datetime, full_name: str = "") -> None:
        if role not in ROLES or language not in LANGUAGES:
            raise DeskError(f"role must be one of {', '.join(ROLES)} and language one of "
                            f"{', '.join(LANGUAGES)}")
        at = codec.ts(now)

        async def job(tx: Tx) -> None:
            if await tx.fetchall("SELECT 1 FROM desk_users WHERE name = ?", [name]):
                raise DeskError(f"a desk user named {name!r} already exists; change their "
                                "password with `ivr desk user passwd`")
            await tx.execute(
                "INSERT INTO desk_users (name, full_name, role, password_hash, disabled, language, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, 0, ?, ?, ?)",
                [name, full_name, role, password_hash, language, at, at])

        await self.store._job(job)

    async def get_user(self, name: str) -> UserRow | None:
        rows = await self.store.backend.fetchall(
            f"SELECT {_USER_COLS} FROM desk_users WHERE name = ?", [name])
        return _user_row(rows[0]) if rows else None

    async def list_users(self) -> list[UserRow]:
        rows = await self.store.backend.fetchall(f"SELECT {_USER_COLS} FROM desk_users ORDER BY name")
        return [_user_row(r) for r in rows]

    async def set_password(self, name: str, password_hash: str, now: datetime,
                           keep_session: str | None = None) -> None:
        """New password; every session of the user ends but `keep_session` (a token hash:
        the one changing it, or None for a reset by an admin or the CLI)."""
        async def job(tx: Tx) -> None:
            await self._update(tx, name, "password_hash = ?", [password_hash], now)
            await tx.execute("DELETE FROM desk_sessions WHERE user_name = ? AND token_hash <> ?",
                             [name, keep_session or ""])

        await self.store._job(job)

    async def rehash_password(self, name: str, password_hash: str, now: datetime) -> None:
        """Same password, today's hash parameters: sessions stay."""
        await self.store._job(lambda tx: self._update(tx, name, "password_hash = ?", [password_hash], now))

    async def set_disabled(self, name: str, disabled: bool, now: datetime) -> None:
        """Disable (its sessions end at once) or enable a user."""
        async def job(tx: Tx) -> None:
            await self._update(tx, name, "disabled = ?", [int(disabled)], now)
            if disabled:
                await tx.execute("DELETE FROM desk_sessions WHERE user_name = ?", [name])

        await self.store._job(job)

    async def set_language(self, name: str, language: str, now: datetime) -> None:
        if language not in LANGUAGES:
            raise DeskError(f"language must be one of {', '.join(LANGUAGES)}")
        await self.store._job(lambda tx: self._update(tx, name, "language = ?", [language], now))

    @staticmethod
    async def _update(tx: Tx, name: str, assignment: str, params: list[Any], now: datetime) -> None:
        changed = await tx.execute(f"UPDATE desk_users SET {assignment}, updated_at = ? WHERE name = ?",
                                   [*params, codec.ts(now), name])
        if not changed:
            raise DeskError(f"no desk user named {name!r}; list them with `ivr desk user list`")

    # ------------------------------------------------------------------ sessions
    async def create_session(self, name: str, now: datetime, expires_at: datetime) -> NewSession:
        new = NewSession(secrets.token_urlsafe(32), secrets.token_urlsafe(32))
        at = codec.ts(now)
        await self.store._job(lambda tx: tx.execute(
            "INSERT INTO desk_sessions (token_hash, user_name, csrf_token, created_at, last_seen, "
            "expires_at) VALUES (?, ?, ?, ?, ?, ?)",
            [token_hash(new.token), name, new.csrf_token, at, at, codec.ts(expires_at)]))
        return new

    async def find_session(self, token: str) -> SessionRow | None:
        """The session of a cookie's token with its (enabled) user, or None. Expiry is the
        caller's rule (policy.session_alive)."""
        cols = ", ".join(f"u.{c.strip()}" for c in _USER_COLS.split(","))
        rows = await self.store.backend.fetchall(
            f"SELECT s.token_hash, s.csrf_token, s.created_at, s.last_seen, s.expires_at, {cols} "
            "FROM desk_sessions s JOIN desk_users u ON u.name = s.user_name "
            "WHERE s.token_hash = ? AND u.disabled = 0", [token_hash(token)])
        if not rows:
            return None
        r = rows[0]
        times = SessionTimes(*(codec.parse_ts(t) for t in r[2:5]))
        return SessionRow(r[0], _user_row(r[5:]).user, r[1], times)

    async def touch_session(self, token_hash_: str, now: datetime) -> None:
        await self.store._job(lambda tx: tx.execute(
            "UPDATE desk_sessions SET last_seen = ? WHERE token_hash = ?", [codec.ts(now), token_hash_]))

    async def delete_session(self, token_hash_: str) -> None:
        await self.store._job(lambda tx: tx.execute(
            "DELETE FROM desk_sessions WHERE token_hash = ?", [token_hash_]))

    async def delete_expired_sessions(self, now: datetime, idle: timedelta) -> int:
        """Housekeeping: rows of sessions that can no longer be used."""
        return await self.store._job(lambda tx: tx.execute(
            "DELETE FROM desk_sessions WHERE expires_at <= ? OR last_seen <= ?",
            [codec.ts(now), codec.ts(now - idle)]))

    # ------------------------------------------------------------------ sign-in failures
    async def failures(self, name: str, address: str, since: datetime) -> list[datetime]:
        rows = await self.store.backend.fetchall(
            "SELECT at FROM desk_login_failures WHERE user_name = ? AND address = ? AND at > ? "
            "ORDER BY at", [name, address, codec.ts(since)])
        return [codec.parse_ts(r[0]) for r in rows]

    async def record_failure(self, name: str, address: str, now: datetime, forget_before: datetime) -> None:
        """One more failure; failures older than `forget_before` go (they lock nothing)."""
        async def job(tx: Tx) -> None:
            await tx.execute("DELETE FROM desk_login_failures WHERE at < ?", [codec.ts(forget_before)])
            await tx.execute("INSERT INTO desk_login_failures (user_name, address, at) VALUES (?, ?, ?)",
                             [name, address, codec.ts(now)])

        await self.store._job(job)

    async def clear_failures(self, name: str, address: str) -> None:
        await self.store._job(lambda tx: tx.execute(
            "DELETE FROM desk_login_failures WHERE user_name = ? AND address = ?", [name, address]))


def _user_row(r: tuple[Any, ...]) -> UserRow:
    name, role, language, full_name, disabled, password_hash, created, updated = r
    return UserRow(DeskUser(name, role, language, full_name or "", bool(disabled)), password_hash,
                   codec.parse_ts(created), codec.parse_ts(updated))
