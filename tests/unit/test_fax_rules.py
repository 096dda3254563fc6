"""The fax channel's pure rules (ReceiveFAX's outcome as spooled by [hotline-fax-done]) and
the TIFF → PDF conversion with Pillow on a real G4 TIFF."""
from __future__ import annotations

import base64
import io

import pytest
from PIL import Image, ImageDraw

from ivr.channels.fax_pdf import FaxConversionError, tiff_to_pdf
from ivr.channels.fax_rules import BadFax, parse_spooled, problem, subject, summary

KEY = "1796317208.42"


def value(status: str = "SUCCESS", pages: str = "2", error: str = "OK", caller: str = "+33123",
          station: str = "CLINIC FAX") -> str:
    b = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731
    return ":".join((b(caller), b("+33100000050"), status, pages, b(error), b(station)))


def test_a_received_fax() -> None:
    r = parse_spooled(KEY, value())
    assert (r.message_id, r.sender, r.recipient, r.pages, r.tiff_name) == (
        f"fax:{KEY}", "+33123", "+33100000050", 2, f"{KEY}.tif")
    assert r.ok and problem(r, have_tiff=True) is None
    assert subject(r, None) == "Fax from +33123, 2 page(s)"
    assert "station 'CLINIC FAX'" in summary(r, None)


def test_failed_partial_and_missing_faxes_say_why() -> None:
    failed = parse_spooled(KEY, value("FAILED", "0", "DISCONNECTED"))
    assert "the fax failed: DISCONNECTED; no page received" == problem(failed, False)
    assert subject(failed, problem(failed, False)) == "Failed fax from +33123"
    partial = parse_spooled(KEY, value("FAILED", "3", "TIMEOUT"))
    assert "3 page(s) received" in (problem(partial, True) or "")
    assert subject(partial, "x").endswith("(incomplete)")
    none = parse_spooled(KEY, value("", "", ""))
    assert "ended before a fax" in (problem(none, False) or "")
    assert "TIFF file is missing" in (problem(parse_spooled(KEY, value()), False) or "")


@pytest.mark.parametrize("key, val, why", [
    ("../../etc/passwd", value(), "uniqueid"),
    (KEY, "a:b", "6 fields"),
    (KEY, value(status="MAYBE"), "FAXSTATUS"),
    (KEY, "!!:eA==:SUCCESS:1:eA==:eA==", "base64"),
])
def test_bad_hand_overs_are_refused(key: str, val: str, why: str) -> None:
    with pytest.raises(BadFax, match=why):
        parse_spooled(key, val)


def fax_tiff(pages: int = 2, dpi: tuple[int, int] = (204, 98)) -> bytes:
    frames = []
    for n in range(pages):
        img = Image.new("1", (1728, 400), 1)
        ImageDraw.Draw(img).text((100, 100), f"page {n + 1}", fill=0)
        frames.append(img)
    out = io.BytesIO()
    frames[0].save(out, "TIFF", compression="group4", dpi=dpi, save_all=True, append_images=frames[1:])
    return out.getvalue()


def test_a_g4_tiff_becomes_a_pdf_with_every_page() -> None:
    pdf, pages = tiff_to_pdf(fax_tiff(3))
    assert pages == 3 and pdf.startswith(b"%PDF-")
    assert b"/Count 3" in pdf


def test_garbage_is_a_conversion_error_not_a_crash() -> None:
    with pytest.raises(FaxConversionError, match="cannot be read"):
        tiff_to_pdf(b"II*\x00garbage")
