"""Which prompt sound files exist: what the engine checks before it runs a plan.

Layout: <sounds_dir>/<lang>/<prompt id>.wav. Reading the disk keeps this out of the pure
dialplan core; building the files (espeak-ng) is the `ivr sounds` tool's job (ivr/cli/sounds.py).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ivr.dialplan.model import Plan, all_prompts
from ivr.dialplan.problems import Problem


def sound_path(sounds_dir: str | Path, lang: str, pid: str) -> Path:
    return Path(sounds_dir) / lang / f"{pid}.wav"


def prompt_files(sounds_dir: str | Path) -> Callable[[str, str], bool]:
    """For `Catalog(prompt_files=...)`: does <lang>/<id>.wav exist."""
    return lambda lang, pid: sound_path(sounds_dir, lang, pid).is_file()


def missing_prompts(plan: Plan, sounds_dir: str | Path) -> list[Problem]:
    """One problem per prompt x language without a sound file (the engine refuses the plan)."""
    src, out = plan.source, []
    for pid, _texts, path in all_prompts(plan):
        for lang in plan.languages:
            f = sound_path(sounds_dir, lang, pid)
            if not f.is_file():
                msg = f"missing sound {f} (run: ivr sounds build)"
                out.append(src.problem(path, msg) if src else Problem("<plan>", 1, 1, msg))
    return out
