"""Fax in through the real Asterisk 22: the sandbox sends a fax to itself (a Local channel
running SendFAX of a TIFF made here, its other half in [hotline-fax] running ReceiveFAX), the
engine stores a fax task with the PDF attached; a call that is no fax becomes a task with the
reason."""
from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from hotline_lab.lab import PROJECT, Lab

from .conftest import lab_config, sounds_of
from .test_sms_calls import crm, wait_for

pytestmark = pytest.mark.timeout(300)
SPOOL_IN_CHROOT = "var/spool/asterisk/fax/hotline"


@pytest.fixture
def fax_lab(lab: Lab, tmp_path: Path):
    spool = lab.sandbox.root / SPOOL_IN_CHROOT
    other = Lab(lab_config(tmp_path, PROJECT / "dialplans/minimal.yaml", sounds_of(lab),
                           extra={"channels": {"fax": {"spool_dir": str(spool), "queue": "operator"}}}))
    other.sandbox.cli("database deltree hotline_fax", check=False)
    yield other
    other.stop_engine()


def fax_tasks(lab: Lab) -> list[dict]:
    async def job(store):
        rows = await store.transact(lambda tx: tx.fetchall(
            "SELECT t.task_id, t.subject, t.notes, t.queue, a.filename, a.content_type, a.data "
            "FROM tasks t JOIN task_messages m ON m.task_id = t.task_id "
            "LEFT JOIN task_attachments a ON a.message_id = m.message_id "
            "WHERE t.channel = 'fax' ORDER BY t.created_at", ()))
        keys = ("task_id", "subject", "notes", "queue", "filename", "content_type", "data")
        return [dict(zip(keys, r)) for r in rows]
    return crm(lab, job)


def one_page_tiff() -> bytes:
    img = Image.new("1", (1728, 300), 1)
    ImageDraw.Draw(img).text((200, 100), "ADVERSE EVENT REPORT - test fax", fill=0)
    out = io.BytesIO()
    img.save(out, "TIFF", compression="group4", dpi=(204, 98))
    return out.getvalue()


def test_a_fax_sent_by_the_sandbox_to_itself_becomes_a_task_with_its_pdf(fax_lab: Lab) -> None:
    lab = fax_lab
    lab.start_engine("--grace", "2")
    (lab.sandbox.root / "tmp/ivr-fax").mkdir(parents=True, exist_ok=True)
    (lab.sandbox.root / "tmp/ivr-fax/out.tif").write_bytes(one_page_tiff())
    lab.sandbox.cli("channel originate Local/+33100000050@hotline-fax application SendFAX "
                    "/tmp/ivr-fax/out.tif")
    task = wait_for("the fax task", lambda: fax_tasks(lab), timeout=120, lab=lab)[0]
    assert task["subject"] == "Fax from an unknown number, 1 page(s)", task["notes"]
    assert task["queue"] == "operator" and task["notes"] is None
    assert task["content_type"] == "application/pdf" and bytes(task["data"]).startswith(b"%PDF-")
    assert b"/Count 1" in bytes(task["data"])
    wait_for("the spool emptied", lambda: "hotline_fax" not in lab.sandbox.cli("database show hotline_fax"))
    assert list((lab.sandbox.root / SPOOL_IN_CHROOT).glob("*.tif")) == []   # stored, then deleted


def test_a_call_that_sends_no_fax_is_a_task_with_the_reason(fax_lab: Lab) -> None:
    lab = fax_lab
    lab.start_engine("--grace", "2")
    lab.sandbox.cli("channel originate Local/+33100000050@hotline-fax application Wait 2")
    task = wait_for("the failed fax task", lambda: fax_tasks(lab), timeout=90, lab=lab)[0]
    assert task["subject"] == "Failed fax from an unknown number"
    assert task["notes"] and ("fax failed" in task["notes"] or "ended before a fax" in task["notes"])
    assert task["data"] is None
    time.sleep(0.5)
    assert len(fax_tasks(lab)) == 1
