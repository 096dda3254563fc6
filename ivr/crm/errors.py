"""Errors meant to be read by people: what happened, where, what to do."""


class CrmError(Exception):
    """A problem the operator can fix (bad URL, bad CSV row, unknown case...)."""
