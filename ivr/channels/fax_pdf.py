"""A received fax (TIFF, one image per page, CCITT G3/G4 as ReceiveFAX writes it) to one PDF,
with Pillow. Run it in a thread: decoding pages is CPU work."""
from __future__ import annotations

import io

from PIL import Image, ImageSequence, UnidentifiedImageError

MAX_PAGES = 200          # a fax longer than this is cut (a broken or hostile sender)


class FaxConversionError(Exception):
    """The TIFF could not be read: the task keeps the TIFF itself and says why."""


def tiff_to_pdf(tiff: bytes) -> tuple[bytes, int]:
    """(PDF bytes, pages). Fax resolutions are not square (204×98 or 204×196 dpi): the PDF
    page keeps the paper's size by using each page's own dpi."""
    try:
        with Image.open(io.BytesIO(tiff)) as img:
            pages, dpi = [], img.info.get("dpi", (204, 196))
            for frame in ImageSequence.Iterator(img):
                if len(pages) >= MAX_PAGES:
                    break
                page = frame.convert("1") if frame.mode not in ("1", "L") else frame.copy()
                x, y = (float(v) for v in frame.info.get("dpi", dpi))
                if x and y and abs(x - y) > 1:   # stretch to square pixels at the higher dpi
                    page = page.resize((page.width, round(page.height * max(x, y) / y)))
                    x = y = max(x, y)
                pages.append((page, x or 204.0))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise FaxConversionError(f"the fax TIFF cannot be read ({exc})") from exc
    if not pages:
        raise FaxConversionError("the fax TIFF has no page")
    out = io.BytesIO()
    first, rest = pages[0], pages[1:]
    first[0].save(out, "PDF", resolution=first[1], save_all=True,
                  append_images=[p for p, _ in rest])
    return out.getvalue(), len(pages)
