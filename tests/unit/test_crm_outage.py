"""Outage or bad record: what waits in the spool and what is set aside for a person."""
import sqlite3

import psycopg
import pytest

from ivr.crm.errors import CrmError, CrmUnreachable
from ivr.crm.outage import is_outage, is_unreachable, refused_by_settings


class _PgError(psycopg.OperationalError):
    sqlstate = "57P01"                      # admin_shutdown: the server went away


class _PgUnique(psycopg.errors.UniqueViolation):
    sqlstate = "23505"


@pytest.mark.parametrize("exc, outage", [
    (sqlite3.OperationalError("database is locked"), True),
    (sqlite3.OperationalError("disk I/O error"), True),
    (sqlite3.IntegrityError("NOT NULL constraint failed"), False),
    (sqlite3.ProgrammingError("Incorrect number of bindings supplied"), False),
    (OSError(28, "No space left on device"), True),
    (CrmError("cannot reconnect"), True),
    (_PgError("terminating connection"), True),
    (_PgUnique("duplicate key"), False),
    # psycopg refuses a row whose width does not match the statement, without a SQLSTATE:
    # that record is bad, and waiting would block the spool behind it forever.
    (psycopg.ProgrammingError("the query has 5 placeholders but 4 parameters were passed"), False),
    (psycopg.OperationalError("connection is closed"), True),
    (TypeError("bad value"), False),
])
def test_outage_or_bad_record(exc: BaseException, outage: bool) -> None:
    assert is_outage(exc) is outage


REFUSED = 'connection failed: connection to server at "127.0.0.1", port 5432 failed: FATAL:  '


@pytest.mark.parametrize("text, settings", [
    (REFUSED + 'password authentication failed for user "ivr"', True),
    (REFUSED + 'database "crm" does not exist', True),
    (REFUSED + 'role "ivr" does not exist', True),
    ('connection failed: connection to server at "127.0.0.1", port 5432 failed: fe_sendauth: '
     'no password supplied', True),
    (REFUSED + 'no pg_hba.conf entry for host "10.0.0.5", user "ivr", database "crm"', True),
    ("failed to resolve host 'db.example': [Errno -2] Name or service not known", True),
    # the server or the network, not the settings: an outage, the engine starts and spools
    ('connection failed: connection to server at "127.0.0.1", port 5432 failed: Connection '
     'refused\n\tIs the server running on that host and accepting TCP/IP connections?', False),
    ("connection failed: connection timeout expired", False),
    (REFUSED + "the database system is starting up", False),
    (REFUSED + "sorry, too many clients already", False),
    ("failed to resolve host 'db.example': [Errno -3] Temporary failure in name resolution", False),
    # a server speaking another language: when in doubt, an outage (its words are logged)
    (REFUSED + "la base de données « crm » n'existe pas", False),
])
def test_a_refused_connection_is_the_settings_or_an_outage(text: str, settings: bool) -> None:
    assert refused_by_settings(psycopg.OperationalError(text)) is settings


@pytest.mark.parametrize("exc, unreachable", [
    (CrmUnreachable("cannot connect to PostgreSQL ivr@db:5432/crm"), True),
    (psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly"), True),
    (_PgError("terminating connection due to administrator command"), True),
    (CrmError("PostgreSQL ivr@db:5432/crm has schema version 9, newer than this software knows (4)"), False),
    (psycopg.errors.InsufficientPrivilege("permission denied for schema public"), False),
])
def test_unreachable_or_refusing_the_work(exc: BaseException, unreachable: bool) -> None:
    assert is_unreachable(exc) is unreachable
