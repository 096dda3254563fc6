"""Sound building (fake synthesizer + one real espeak-ng/sox run) and missing prompts."""
from __future__ import annotations

import json
import shutil
import wave
from pathlib import Path

import pytest

from ivr.dialplan import PlanInvalid, load_plan
from ivr.app.prompts import missing_prompts, prompt_files
from ivr.cli.sounds import MANIFEST, build_sounds

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = ROOT / "dialplans/minimal.yaml"


def fake_synth(calls: list):
    def synth(lang: str, text: str, out: Path) -> None:
        calls.append((lang, out.name.replace(".tmp", ""), text))
        out.write_bytes(f"{lang}:{text}".encode())
    return synth


def test_builds_every_prompt_and_language(tmp_path: Path) -> None:
    calls: list = []
    report = build_sounds([MINIMAL], tmp_path, progress=False, synth=fake_synth(calls))
    assert sorted(p.relative_to(tmp_path).as_posix() for p in report.created) == \
        ["en/main.wav", "fr/main.wav"]
    assert ("en", "main.wav", "For orders, press 1. For an operator, press 0.") in calls
    assert json.loads((tmp_path / MANIFEST).read_text()).keys() == {"en/main", "fr/main"}
    assert missing_prompts(load_plan(MINIMAL), tmp_path) == []


def test_recorded_files_win_and_force_overwrites(tmp_path: Path) -> None:
    (tmp_path / "fr").mkdir()
    recorded = tmp_path / "fr/main.wav"
    recorded.write_bytes(b"studio recording")
    calls: list = []
    report = build_sounds([MINIMAL], tmp_path, progress=False, synth=fake_synth(calls))
    assert recorded.read_bytes() == b"studio recording" and report.kept == [recorded]
    assert [c[0] for c in calls] == ["en"]
    build_sounds([MINIMAL], tmp_path, progress=False, synth=fake_synth(calls), force=True)
    assert recorded.read_bytes() != b"studio recording"


def test_changed_text_regenerates_only_synthesized(tmp_path: Path) -> None:
    plan = tmp_path / "p.yaml"
    plan.write_text(MINIMAL.read_text())
    snd = tmp_path / "s"
    calls: list = []
    build_sounds([plan], snd, progress=False, synth=fake_synth(calls))
    (snd / "en/main.wav").write_bytes(b"recorded over the synthesized one")
    plan.write_text(MINIMAL.read_text().replace("For orders", "For all orders")
                    .replace("Pour les commandes", "Pour toutes les commandes"))
    calls.clear()
    report = build_sounds([plan], snd, progress=False, synth=fake_synth(calls))
    assert [c[0] for c in calls] == ["fr"]  # en was re-recorded by a human: kept
    assert (snd / "en/main.wav").read_bytes() == b"recorded over the synthesized one"
    assert len(report.created) == 1


def test_failed_synthesis_is_reported_and_leaves_nothing(tmp_path: Path) -> None:
    def broken(lang: str, text: str, out: Path) -> None:
        out.write_bytes(b"half")
        raise RuntimeError("espeak-ng failed")
    report = build_sounds([MINIMAL], tmp_path, progress=False, synth=broken)
    assert len(report.failed) == 2 and not list(tmp_path.rglob("*.wav"))


def test_broken_plan_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PlanInvalid):
        build_sounds([ROOT / "tests/dialplans/broken/schema_errors.yaml"], tmp_path,
                     progress=False, synth=fake_synth([]))


def test_missing_prompts_point_at_yaml(tmp_path: Path) -> None:
    plan = load_plan(ROOT / "dialplans/hotline.yaml")
    problems = missing_prompts(plan, tmp_path)
    assert len(problems) == 26  # 13 prompts x 2 languages
    first = problems[0]
    assert str(first).startswith(f"{plan.source.file}:") and "missing sound" in first.message
    exists = prompt_files(tmp_path)
    assert exists("fr", "main-menu") is False


@pytest.mark.skipif(not (shutil.which("espeak-ng") and shutil.which("sox")),
                    reason="espeak-ng/sox not installed")
def test_real_espeak_gives_8khz_mono_16bit(tmp_path: Path) -> None:
    report = build_sounds([MINIMAL], tmp_path, progress=False)
    assert not report.failed
    with wave.open(str(tmp_path / "fr/main.wav")) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        assert w.getnframes() > 8000  # more than a second of speech
