"""Telling a database outage from a bad record, and saying what to do about an outage.

An outage (locked, disk full, I/O error, server gone, schema or permission problem) hits
every write alike: the writes wait in the spool and are retried. A data problem (a value
the database refuses) belongs to one record: that record is set aside, the rest go on.
When in doubt we say "outage": waiting costs nothing, setting a record aside needs a person.

The same reasoning at connection time: a server that answers "no such database", "wrong
password" or "no such role" will say so forever, so that is the settings (a start error a
person must fix); a server that does not answer (refused, timed out, starting up, too many
clients) is an outage: the engine starts, spools, and connects when it can.
"""
from __future__ import annotations

import sqlite3
import sys

from .errors import CrmError, CrmUnreachable

# SQLite's per-record errors: constraint, bad value or binding; everything else is the database.
_SQLITE_DATA = (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.InterfaceError,
                sqlite3.ProgrammingError)
# PostgreSQL SQLSTATE classes that are about the values: 22 data exception, 23 integrity.
_PG_DATA_CLASSES = ("22", "23")
# What libpq (and psycopg's own host name resolution) says when the server, or the name
# service, answered and refused these settings. A failed connection carries no SQLSTATE,
# only this text; a server configured for another language says it in that language: we
# then take it for an outage (when in doubt...), and its own words are in the log.
_SETTINGS_REFUSED = (
    "password authentication failed", "no password supplied", "authentication failed",
    "no pg_hba.conf entry", "does not exist", "not permitted to log in", "permission denied",
    "name or service not known", "nodename nor servname", "invalid", "ssl was required",
    "does not support ssl", "certificate",
)


def is_outage(exc: BaseException) -> bool:
    """True if the database (not this record) is the problem, so retrying later can work."""
    if isinstance(exc, _SQLITE_DATA):
        return False
    if isinstance(exc, (sqlite3.Error, OSError, CrmError, TimeoutError)):
        return True
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None and isinstance(exc, psycopg.Error):
        state = getattr(exc, "sqlstate", None) or ""
        if not state:       # refused by psycopg itself, before the server saw it: the values
            return not isinstance(exc, (psycopg.ProgrammingError, psycopg.DataError))
        return not state.startswith(_PG_DATA_CLASSES)
    return False       # TypeError, ValueError, OverflowError…: the record's values


def refused_by_settings(exc: BaseException) -> bool:
    """True if a connection failed because of the settings (URL, user, password, database
    name, TLS), not because the server is down or unreachable right now."""
    text = str(exc).lower()
    return any(words in text for words in _SETTINGS_REFUSED)


def is_unreachable(exc: BaseException) -> bool:
    """True if the connection itself failed (cannot connect, or dropped): the database did
    not get to refuse the work, so there is nothing for a person to read in its answer."""
    if isinstance(exc, CrmUnreachable):
        return True
    psycopg = sys.modules.get("psycopg")
    return (psycopg is not None and isinstance(exc, psycopg.OperationalError)
            and (getattr(exc, "sqlstate", None) or "08")[:2] in ("08", "57"))


def what_to_do(exc: BaseException, where: str) -> str:
    """A hint for the operator, from the error text."""
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return (f"another process holds a write lock on {where} (a long transaction, a backup "
                "or a tool left open): end it")
    if "session is read-only" in text or "shutting down" in text or "in recovery" in text:
        # libpq's target_session_attrs=read-write found no primary: a failover under way
        return (f"no server of {where} takes writes now (a PostgreSQL failover under way?): "
                "promote the standby if nobody does (pg_ctl promote); the store follows by itself")
    if "full" in text or "no space" in text or "quota" in text:
        return f"free disk space where {where} lives"
    if "i/o" in text or "disk" in text or "readonly" in text or "read-only" in text:
        return f"check the disk and file system holding {where} (dmesg, mount options, permissions)"
    if "connect" in text or "server" in text or "terminat" in text or "closed" in text:
        return f"check that {where} is running and reachable"
    return f"check {where}"
