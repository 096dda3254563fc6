"""Outage or bad record: what waits in the spool and what is set aside for a person."""
import sqlite3

import psycopg
import pytest

from ivr.crm.errors import CrmError
from ivr.crm.outage import is_outage


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
