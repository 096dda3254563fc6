"""Outbound campaigns (issue 15): the pure cores.

campaign.py  the campaign file (YAML → pydantic, `file:line` problems)
listing.py   a campaign's contact list from CSV text: per-row validation, rejects
rules.py     compliance: may this contact be dialled now, and if not, when
pacer.py     how many calls to place now (events + `now` → actions), progressive/predictive
simulate.py  a day of dialling with the same pacer, for tests and bench/outbound.py

No I/O, no clock: tests/unit/test_architecture.py holds the package to that.
"""
