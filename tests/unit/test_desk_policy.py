"""The desk's pure rules: roles, who sees which desk, session expiry, sign-in throttling."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ivr.desk.policy import (DeskUser, SessionTimes, Throttle, home_path, locked_until, may_see_agent,
                             name_problem, needs_touch, password_problem, role_at_least,
                             safe_back_path, session_alive, session_expiry)

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)
ALICE = DeskUser("alice", "agent", "fr")
SAM = DeskUser("sam", "supervisor", "en")
ROOT = DeskUser("root", "admin", "en")


def test_an_agent_sees_only_their_own_desk_supervisors_and_admins_all():
    assert may_see_agent(ALICE, "alice") and not may_see_agent(ALICE, "bob")
    assert may_see_agent(SAM, "bob") and may_see_agent(ROOT, "alice")


def test_roles_are_ordered_agent_supervisor_admin():
    assert role_at_least(ROOT, "supervisor") and role_at_least(SAM, "agent")
    assert not role_at_least(SAM, "admin") and not role_at_least(ALICE, "supervisor")


def test_home_depends_on_the_role():
    assert [home_path(u) for u in (ALICE, SAM, ROOT)] == ["/agent/alice", "/supervisor", "/admin"]


IDLE, MAX_AGE = timedelta(minutes=60), timedelta(hours=12)


def times(last_seen: datetime) -> SessionTimes:
    return SessionTimes(T0, last_seen, session_expiry(T0, MAX_AGE))


def test_a_session_dies_when_idle_too_long():
    assert session_alive(times(T0), IDLE, T0 + timedelta(minutes=59))
    assert not session_alive(times(T0), IDLE, T0 + timedelta(minutes=60))


def test_a_session_dies_at_its_absolute_end_even_when_used():
    end = T0 + MAX_AGE
    assert session_alive(times(end - timedelta(minutes=1)), IDLE, end - timedelta(seconds=1))
    assert not session_alive(times(end - timedelta(minutes=1)), IDLE, end)


def test_last_seen_is_written_at_most_once_a_minute():
    assert not needs_touch(times(T0), T0 + timedelta(seconds=59))
    assert needs_touch(times(T0), T0 + timedelta(seconds=60))


THROTTLE = Throttle(max_failures=5, window=timedelta(minutes=15))


def test_sign_in_stays_open_below_the_limit():
    failures = [T0 + timedelta(minutes=m) for m in range(4)]
    assert locked_until(failures, THROTTLE, T0 + timedelta(minutes=5)) is None


def test_the_fifth_failure_locks_until_the_oldest_of_the_five_ages_out():
    failures = [T0 + timedelta(minutes=m) for m in range(5)]
    now = T0 + timedelta(minutes=5)
    assert locked_until(failures, THROTTLE, now) == T0 + timedelta(minutes=15)
    assert locked_until(failures, THROTTLE, T0 + timedelta(minutes=15)) is None


def test_with_more_failures_the_lock_lasts_until_fewer_than_five_remain():
    failures = [T0 + timedelta(minutes=m) for m in range(7)]
    assert locked_until(failures, THROTTLE, T0 + timedelta(minutes=7)) == T0 + timedelta(minutes=17)


def test_failures_older_than_the_window_lock_nothing():
    old = [T0 - timedelta(minutes=20 + m) for m in range(10)]
    assert locked_until(old, THROTTLE, T0) is None


@pytest.mark.parametrize("password, refused", [("short", True), ("123456789", True), (" " * 12, True),
                                               ("correct horse", False), ("0123456789", False)])
def test_weak_passwords_are_refused_with_a_reason(password: str, refused: bool):
    problem = password_problem(password)
    assert (problem is not None) == refused
    if problem and len(password) < 10:
        assert "10 characters" in problem


@pytest.mark.parametrize("name, ok", [("alice", True), ("dr.martin-2", True), ("Alice", False),
                                      ("a/b", False), ("", False), ("<script>", False), ("-x", False)])
def test_user_names_are_plain(name: str, ok: bool):
    assert (name_problem(name) is None) == ok


@pytest.mark.parametrize("path, back", [("/supervisor", "/supervisor"), ("//evil.example/", "/"),
                                        ("https://evil.example/", "/"), (None, "/"), ("/\\evil", "/")])
def test_forms_return_only_to_local_paths(path, back):
    assert safe_back_path(path) == back
