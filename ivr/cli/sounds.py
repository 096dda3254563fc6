"""Prompt sound files: synthesize the missing ones (which exist: ivr/app/prompts.py).

Layout: <sounds_dir>/<lang>/<prompt id>.wav, 8 kHz mono 16-bit PCM (what
Asterisk plays without transcoding). Recorded files always win: a file is only
(re)generated if it is missing, if it is one we synthesized and its text
changed (tracked in <sounds_dir>/.synthesized.json), or with force=True.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from contextlib import nullcontext
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from rich.progress import Progress

from ivr.app.prompts import sound_path
from ivr.call.flow import divert_prompt
from ivr.config import ConfigError, Settings
from ivr.dialplan.loader import load_plan, plan_files
from ivr.dialplan.model import all_prompts

VOICES = {"fr": "fr", "en": "en", "ko": "ko"}  # plan language -> espeak-ng voice (default: same code)
MANIFEST = ".synthesized.json"
Synth = Callable[[str, str, Path], None]  # (lang, text, out wav 8 kHz) -> None


@dataclass
class BuildReport:
    created: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)       # recorded or up to date
    conflicts: list[str] = field(default_factory=list)   # same id, different texts
    failed: list[tuple[Path, str]] = field(default_factory=list)


def _run(cmd: list[str]) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if r.returncode:
        raise RuntimeError(f"{cmd[0]} failed: {r.stderr.strip()[:300]}")


def espeak_synth(lang: str, text: str, out: Path) -> None:
    """espeak-ng → telephone band (low-pass 3.4 kHz) → 8 kHz mono 16-bit WAV."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        _run(["espeak-ng", "-v", VOICES.get(lang, lang), "-w", str(raw), text])
        if shutil.which("sox"):
            _run(["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer",
                  str(out), "lowpass", "3400"])
        else:  # pydub fallback: pure Python WAV handling, no ffmpeg needed
            from pydub import AudioSegment
            from pydub.effects import low_pass_filter
            seg = low_pass_filter(AudioSegment.from_wav(raw), 3400)
            seg.set_frame_rate(8000).set_channels(1).set_sample_width(2).export(out, format="wav")


def _digest(data: bytes | str) -> str:
    return hashlib.sha256(data if isinstance(data, bytes) else data.encode()).hexdigest()[:16]


def _collect(plan_paths: Iterable[str | Path], report: BuildReport) -> dict[tuple[str, str], str]:
    """{(lang, id): text} over all plans; the first plan wins on conflicts."""
    wanted: dict[tuple[str, str], str] = {}
    for f in plan_files(plan_paths):
        plan = load_plan(f)  # raises PlanInvalid: never synthesize from a broken plan
        for pid, texts, _ in all_prompts(plan):
            for lang, text in texts.items():
                if lang not in plan.languages:
                    continue  # undeclared language (the checker warns)
                prev = wanted.setdefault((lang, pid), text)
                if prev != text:
                    report.conflicts.append(f"{lang}/{pid}: {f} has a different text")
    return wanted


def build_sounds(plan_paths: Iterable[str | Path], sounds_dir: str | Path, *,
                 force: bool = False, progress: bool | Progress = True,
                 synth: Synth = espeak_synth,
                 extra: Mapping[tuple[str, str], str] | None = None) -> BuildReport:
    """Create missing sounds/<lang>/<id>.wav for every prompt of the given plans, and for
    `extra` {(lang, id): text} (the divert destinations' prompts)."""
    sounds_dir = Path(sounds_dir)
    report = BuildReport()
    wanted = _collect(plan_paths, report)
    for key, text in (extra or {}).items():
        wanted.setdefault(key, text)
    manifest_path = sounds_dir / MANIFEST
    try:
        manifest: dict[str, dict[str, str]] = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        manifest = {}

    todo: list[tuple[str, str, str, Path]] = []
    for (lang, pid), text in sorted(wanted.items()):
        out = sound_path(sounds_dir, lang, pid)
        entry = manifest.get(f"{lang}/{pid}")
        if out.is_file() and not force:
            ours = entry is not None and entry.get("wav") == _digest(out.read_bytes())
            if not ours or entry.get("text") == _digest(text):  # recorded, or up to date
                report.kept.append(out)
                continue
        todo.append((lang, pid, text, out))

    own = progress if isinstance(progress, Progress) else Progress(disable=not progress)
    with own if own is not progress else nullcontext():  # caller's Progress: theirs to manage
        task = own.add_task("synthesizing prompts", total=len(todo))
        for lang, pid, text, out in todo:
            own.update(task, description=f"{lang}/{pid}")
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_suffix(".tmp.wav")
            try:
                synth(lang, text, tmp)
                os.replace(tmp, out)  # atomic: Asterisk never plays half a file
            except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
                tmp.unlink(missing_ok=True)
                report.failed.append((out, str(exc)))
            else:
                report.created.append(out)
                manifest[f"{lang}/{pid}"] = {"text": _digest(text),
                                             "wav": _digest(out.read_bytes())}
            own.advance(task)
    if report.created:
        sounds_dir.mkdir(parents=True, exist_ok=True)
        manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return report



def destination_prompts(settings: Settings) -> dict[tuple[str, str], str]:
    """{(lang, id): text} of the divert destinations' prompts (config's queues file); none
    when the settings cannot be read (`ivr check` says why)."""
    try:
        destinations = settings.destinations()
    except (ConfigError, OSError, ValueError):
        return {}
    return {(lang, divert_prompt(name)): text for name, dest in destinations.items()
            for lang, text in dest.prompt.items()}
