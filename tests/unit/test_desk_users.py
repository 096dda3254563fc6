"""Desk users, sessions and sign-in failures in the CRM database, on SQLite and a real
PostgreSQL 15 (migration 7), and argon2 password hashes."""
from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from argon2 import PasswordHasher

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "crm"))
from crm_pg import crm_url, pg_server  # noqa: E402,F401  (crm_url: fixture)

from ivr.crm.store import open_store  # noqa: E402
from ivr.desk.passwords import Passwords  # noqa: E402
from ivr.desk.users import DeskAccounts, DeskError, token_hash  # noqa: E402

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)     # old parameters


@pytest.fixture
async def accounts(crm_url: str):
    store = await open_store(crm_url)
    try:
        yield DeskAccounts(store)
    finally:
        await store.close()


async def test_users_are_added_listed_and_names_are_unique(accounts: DeskAccounts):
    await accounts.add_user("bob", "agent", "en", "hash-b", T0)
    await accounts.add_user("alice", "admin", "fr", "hash-a", T0, full_name="Alice Martin")
    assert [(r.user.name, r.user.role, r.user.full_name) for r in await accounts.list_users()] == [
        ("alice", "admin", "Alice Martin"), ("bob", "agent", "")]
    with pytest.raises(DeskError, match="already exists"):
        await accounts.add_user("bob", "agent", "en", "hash", T0)
    with pytest.raises(DeskError, match="role must be"):
        await accounts.add_user("carol", "boss", "en", "hash", T0)
    assert await accounts.get_user("nobody") is None


async def test_only_a_hash_of_the_session_token_is_stored(accounts: DeskAccounts):
    await accounts.add_user("bob", "agent", "en", "h", T0)
    new = await accounts.create_session("bob", T0, T0 + timedelta(hours=12))
    rows = await accounts.store.backend.fetchall("SELECT token_hash, csrf_token FROM desk_sessions")
    assert rows == [(token_hash(new.token), new.csrf_token)] and new.token not in rows[0][0]
    found = await accounts.find_session(new.token)
    assert found is not None and found.user.name == "bob" and found.csrf_token == new.csrf_token
    assert found.times.expires_at == T0 + timedelta(hours=12)
    assert await accounts.find_session("forged") is None


async def test_disabling_a_user_ends_their_sessions_at_once(accounts: DeskAccounts):
    await accounts.add_user("bob", "agent", "en", "h", T0)
    new = await accounts.create_session("bob", T0, T0 + timedelta(hours=1))
    await accounts.set_disabled("bob", True, T0)
    assert await accounts.find_session(new.token) is None
    assert (await accounts.get_user("bob")).user.disabled
    with pytest.raises(DeskError, match="no desk user"):
        await accounts.set_disabled("nobody", True, T0)


async def test_a_password_change_ends_the_other_sessions_only(accounts: DeskAccounts):
    await accounts.add_user("bob", "agent", "en", "h", T0)
    mine = await accounts.create_session("bob", T0, T0 + timedelta(hours=1))
    other = await accounts.create_session("bob", T0, T0 + timedelta(hours=1))
    await accounts.set_password("bob", "h2", T0, keep_session=token_hash(mine.token))
    assert await accounts.find_session(mine.token) is not None
    assert await accounts.find_session(other.token) is None
    await accounts.set_password("bob", "h3", T0)               # an admin's reset: all go
    assert await accounts.find_session(mine.token) is None


async def test_sessions_are_touched_and_expired_ones_dropped(accounts: DeskAccounts):
    await accounts.add_user("bob", "agent", "en", "h", T0)
    idle = timedelta(minutes=60)
    kept = await accounts.create_session("bob", T0, T0 + timedelta(hours=12))
    stale = await accounts.create_session("bob", T0, T0 + timedelta(hours=12))
    later = T0 + timedelta(minutes=90)
    await accounts.touch_session(token_hash(kept.token), later - timedelta(minutes=1))
    assert await accounts.delete_expired_sessions(later, idle) == 1
    assert await accounts.find_session(kept.token) is not None
    assert await accounts.find_session(stale.token) is None


async def test_failures_are_counted_per_name_and_address_and_forgotten(accounts: DeskAccounts):
    for m in range(3):
        await accounts.record_failure("bob", "10.0.0.1", T0 + timedelta(minutes=m), T0 - timedelta(hours=1))
    await accounts.record_failure("bob", "10.0.0.2", T0, T0 - timedelta(hours=1))
    assert len(await accounts.failures("bob", "10.0.0.1", T0 - timedelta(minutes=15))) == 3
    assert await accounts.failures("bob", "10.0.0.1", T0 + timedelta(minutes=1)) == [T0 + timedelta(minutes=2)]
    await accounts.clear_failures("bob", "10.0.0.1")
    assert await accounts.failures("bob", "10.0.0.1", T0 - timedelta(minutes=15)) == []
    assert len(await accounts.failures("bob", "10.0.0.2", T0 - timedelta(minutes=15))) == 1


async def test_language_changes_are_kept(accounts: DeskAccounts):
    await accounts.add_user("bob", "agent", "en", "h", T0)
    await accounts.set_language("bob", "fr", T0 + timedelta(minutes=1))
    row = await accounts.get_user("bob")
    assert row.user.language == "fr" and row.updated_at == T0 + timedelta(minutes=1)
    with pytest.raises(DeskError):
        await accounts.set_language("bob", "de", T0)


async def test_passwords_verify_and_old_parameters_ask_for_a_rehash():
    passwords = Passwords()
    encoded = await passwords.hash("correct horse battery")
    assert encoded.startswith("$argon2id$")
    assert await passwords.verify(encoded, "correct horse battery")
    assert not await passwords.verify(encoded, "wrong horse battery")
    assert not await passwords.verify(None, "correct horse battery")      # unknown user
    assert not await passwords.verify("not a hash", "x")
    old = CHEAP.hash("correct horse battery")
    assert await passwords.verify(old, "correct horse battery") and passwords.needs_rehash(old)
    assert not passwords.needs_rehash(encoded)
