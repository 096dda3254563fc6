"""Contacts: number normalisation, CSV import with file:line errors, lookup, history."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "crm"))
from crm_calls import CALLS  # noqa: E402
from crm_pg import crm_url  # noqa: E402,F401  (fixture)

from ivr.crm.contacts import normalise_number  # noqa: E402
from ivr.crm.errors import CrmError  # noqa: E402
from ivr.crm.store import open_store  # noqa: E402

FIX = Path(__file__).resolve().parents[1] / "crm"


@pytest.mark.parametrize("raw, cc, want", [
    ("+49 30 1234-56", "", "+4930123456"),
    ("+49 (0)30 123456", "", "+4930123456"),
    ("0049 30 123456", "", "+4930123456"),
    ("030/123456", "49", "+4930123456"),
    ("030 123456", "", "030123456"),           # no country code known: kept national
    ("(030) 12.34.56", "+49", "+4930123456"),
    ("", "49", ""),
    (None, "", ""),
])
def test_normalise_number(raw: str, cc: str, want: str) -> None:
    assert normalise_number(raw, cc) == want


@given(st.text(alphabet="0123456789 -()./+", max_size=20))
def test_normalise_is_idempotent(raw: str) -> None:
    once = normalise_number(raw, "49")
    assert normalise_number(once, "49") == once


async def test_import_find_and_update(crm_url: str, tmp_path: Path) -> None:
    store = await open_store(crm_url, country_code="49")
    try:
        assert await store.import_contacts_csv(FIX / "contacts_good.csv") == 3
        anna = await store.find_contact("030 1112")                  # second number, national format
        assert anna is not None
        assert {k: anna[k] for k in ("name", "type", "organisation", "language", "preferred_agent", "notes")} == {
            "name": "Anna Apotheke", "type": "pharmacist", "organisation": "Stern-Apotheke",
            "language": "de", "preferred_agent": "a1", "notes": "prefers mornings"}
        assert anna["numbers"] == ["+4930111", "+49301112"]
        berg = await store.find_contact("+49 30 222")
        assert berg is not None and berg["type"] == "doctor" and berg["preferred_agent"] == "a2"
        chen = await store.find_contact("+49176333")
        assert chen is not None and chen["name"] == "Chen, Li" and chen["preferred_agent"] is None
        assert await store.find_contact("+49 999") is None
        # re-import updates the contact matched by number instead of duplicating it
        (tmp_path / "upd.csv").write_text("name,type,number\nAnna Apotheke-Neu,pharmacist,+4930111;+4930119\n")
        assert await store.import_contacts_csv(tmp_path / "upd.csv") == 1
        anna2 = await store.find_contact("+4930119")
        assert anna2 is not None and anna2["id"] == anna["id"] and anna2["name"] == "Anna Apotheke-Neu"
        assert anna2["numbers"] == ["+4930111", "+49301112", "+4930119"]
        cid = await store.save_contact("Eva", ["0171 555"], "patient", language="en")
        eva = await store.find_contact("+49171555")
        assert eva is not None and eva["id"] == cid and eva["language"] == "en"
        with pytest.raises(CrmError, match="type 'boss'"):
            await store.save_contact("X", ["+491"], "boss")
    finally:
        await store.close()


async def test_bad_csv_lists_every_bad_row_and_imports_nothing(crm_url: str) -> None:
    store = await open_store(crm_url)
    try:
        path = FIX / "contacts_bad.csv"
        with pytest.raises(CrmError) as err:
            await store.import_contacts_csv(path)
        msg = str(err.value)
        assert "4 bad row(s)" in msg and "nothing imported" in msg
        assert f"{path}:3: name is empty" in msg
        assert f"{path}:4: type 'astronaut' is not one of" in msg
        assert f"{path}:5: number '+49 30 111' already used on line 2" in msg
        assert f"{path}:6: no phone number" in msg
        assert await store.find_contact("+4930111") is None
    finally:
        await store.close()


async def test_csv_file_problems(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path}/crm.db")
    try:
        with pytest.raises(CrmError, match="cannot read contacts file"):
            await store.import_contacts_csv(tmp_path / "missing.csv")
        (tmp_path / "h.csv").write_text("who,phone_no\nA,1\n")
        with pytest.raises(CrmError, match=r"h.csv:1: header must contain 'name' and 'numbers'"):
            await store.import_contacts_csv(tmp_path / "h.csv")
        (tmp_path / "x.csv").write_text("name,numbers\nA,+49301,extra\n")
        with pytest.raises(CrmError, match=r"x.csv:2: more fields than the header"):
            await store.import_contacts_csv(tmp_path / "x.csv")
    finally:
        await store.close()


async def test_contact_history_covers_all_numbers(crm_url: str) -> None:
    store = await open_store(crm_url, country_code="49")
    try:
        await store.import_contacts_csv(FIX / "contacts_good.csv")
        for rec in CALLS:
            store.save_call(rec)
        hist = await store.contact_history("+49 30 111")          # Anna: c1 and c3..c10 use +4930111
        assert [r.call_id for r in hist][:3] == ["c10", "c9", "c8"]   # newest first
        assert "c2" not in [r.call_id for r in hist]
        assert [r.call_id for r in await store.contact_history("0049 30 222")] == ["c2"]
        assert [r.call_id for r in await store.contact_history("030 222", limit=None)] == ["c2"]
        assert await store.contact_history("+1 555") == []
    finally:
        await store.close()
