"""Grammar-constrained vosk recognition of one caller utterance.

One ``SpeechModel`` (≈530 MB, ~2 s to load) is shared by all calls; each
utterance gets its own ``Recognition`` whose KaldiRecognizer only ever runs
in a worker thread (vosk releases the GIL while decoding), one chunk at a
time, so the event loop is never blocked.

End of utterance is whichever comes first:
* vosk's endpoint (rules in conf/model.conf; our tuned copy shortens rule2),
* our own check: decoder has words and the audio has been quiet for
  ``end_silence`` s (energy below a noise-floor-relative threshold),
* ``no_speech_timeout`` with no word yet, or ``max_utterance``.
"""
from __future__ import annotations

import array
import asyncio
import json
import logging
import math
import os
from collections.abc import AsyncIterable, Iterable, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import vosk

from .modeldir import resolve_model_path, tuned_model_dir

log = logging.getLogger(__name__)

RATE = 8000
BYTES_PER_S = RATE * 2
_STEP = 320  # analyse energy per 20 ms

_executor: ThreadPoolExecutor | None = None


def default_executor() -> ThreadPoolExecutor:
    """Shared decode pool: more threads than cores only adds contention."""
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="vosk")
    return _executor


@dataclass(frozen=True, slots=True)
class Word:
    word: str
    conf: float
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Heard:
    text: str
    confidence: float  # mean word confidence, 0.0 when nothing was heard
    words: tuple[Word, ...] = ()
    intent: str | None = None
    candidates: tuple[str, ...] = ()  # every intent whose phrase matched
    end: str = "endpoint"  # endpoint | silence | no_speech | max_utterance | hangup
    audio_s: float = 0.0  # audio consumed when decided


class SpeechModel:
    def __init__(self, model: vosk.Model, path: Path) -> None:
        self.model = model
        self.path = path

    @classmethod
    def load(cls, path_or_package: str | os.PathLike[str], *, deterministic: bool = True,
             trailing_silence: float | None = None, cache_dir: Path | None = None) -> SpeechModel:
        """Load from a model dir or installed package (never downloads).

        ``deterministic`` sets dither=0 and ``trailing_silence`` shortens the
        endpoint rules, both through a symlinked copy in ``cache_dir``
        (default ~/.cache/ivr-speech); the original model is untouched."""
        src = resolve_model_path(path_or_package)
        path = tuned_model_dir(src, cache_dir, dither=0.0 if deterministic else None,
                               trailing_silence=trailing_silence)
        vosk.SetLogLevel(-1)
        return cls(vosk.Model(str(path)), path)

    def knows(self, word: str) -> bool:
        return self.model.vosk_model_find_word(word) >= 0

    def unknown_words(self, phrases: Iterable[str]) -> list[str]:
        """Words vosk would silently drop from a grammar (first-seen order)."""
        seen: dict[str, None] = {}
        for p in phrases:
            for w in p.split():
                if w not in seen and not self.knows(w):
                    seen[w] = None
        return list(seen)

    def recognition(self, intents: Mapping[str, Sequence[str]], **kw: object) -> Recognition:
        return Recognition(self, intents, **kw)  # type: ignore[arg-type]


def _norm(text: str) -> str:
    return " ".join(text.split())


def match_intents(text: str, intents: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    """Intents ranked: exact phrase match, else phrases contained in the text
    (longest first). A fragment ("문의" of "제품 문의") matches nothing: on
    noise the grammar often yields one short word with decent confidence."""
    t = _norm(text)
    if not t:
        return ()
    padded = f" {t} "
    exact = [i for i, ps in intents.items() if any(_norm(p) == t for p in ps)]
    if exact:
        return tuple(exact)
    inside = sorted(((max(len(_norm(p)) for p in ps if f" {_norm(p)} " in padded), i)
                     for i, ps in intents.items() if any(f" {_norm(p)} " in padded for p in ps)),
                    reverse=True)
    return tuple(i for _, i in inside)


def _rms(pcm: bytes) -> float:
    a = array.array("h", pcm[: len(pcm) // 2 * 2])
    return math.sqrt(sum(x * x for x in a) / len(a)) if a else 0.0


@dataclass
class _Limits:
    no_speech_timeout: float = 5.0
    max_utterance: float = 10.0
    end_silence: float = 0.2
    max_pause: float = 0.6
    silence_floor: float = 200.0  # RMS below this is always silence


class Recognition:
    """Recognise one utterance. Use ``await run(chunks)`` or repeated
    ``await feed(pcm)`` until it returns a ``Heard`` (then ``finish()``)."""

    def __init__(self, model: SpeechModel, intents: Mapping[str, Sequence[str]], *,
                 no_speech_timeout: float = 5.0, max_utterance: float = 10.0,
                 end_silence: float = 0.2, max_pause: float = 0.6, executor: Executor | None = None) -> None:
        self.model = model
        self.intents = {k: [_norm(p) for p in v] for k, v in intents.items()}
        self.limits = _Limits(no_speech_timeout, max_utterance, end_silence, max_pause)
        self.executor = executor
        self.unknown = model.unknown_words(p for ps in self.intents.values() for p in ps)
        if self.unknown:
            log.warning("speech: words not in the model, their phrases are dropped: %s", self.unknown)
        phrases = sorted({p for ps in self.intents.values() for p in ps
                          if not any(w in self.unknown for w in p.split())})
        if model.knows("[unk]"):  # garbage word: lets off-grammar speech stay unmatched
            phrases.append("[unk]")
        if not phrases:
            raise ValueError("speech: no usable phrase in the intents")
        self.grammar = json.dumps(phrases, ensure_ascii=False)
        self.result: Heard | None = None
        self._rec: vosk.KaldiRecognizer | None = None
        self._samples = 0
        self._speech = False
        self._quiet = 0.0
        self._noise = math.inf
        self._tail = b""
        self._partial = ""
        self._frames = 0

    # -- synchronous core (worker thread) --------------------------------
    def feed_sync(self, pcm: bytes) -> Heard | None:
        if self.result is not None:
            return self.result
        if self._rec is None:
            self._rec = vosk.KaldiRecognizer(self.model.model, RATE, self.grammar)
            self._rec.SetWords(True)
        data = self._tail + pcm
        usable = len(data) // _STEP * _STEP
        self._tail = data[usable:]
        for i in range(0, usable, _STEP):
            heard = self._step(data[i : i + _STEP])
            if heard is not None:
                self.result = heard
                return heard
        return None

    def _step(self, chunk: bytes) -> Heard | None:
        rec = self._rec
        assert rec is not None
        self._samples += len(chunk) // 2
        self._frames += 1
        t = self._samples / RATE
        lim = self.limits
        rms = _rms(chunk)
        self._noise = min(self._noise * 1.002 + 1, rms) if math.isfinite(self._noise) else rms
        quiet = rms < max(lim.silence_floor, 3 * self._noise)
        self._quiet = self._quiet + len(chunk) / BYTES_PER_S if quiet else 0.0
        if rec.AcceptWaveform(chunk):
            heard = self._parse(rec.Result(), "endpoint")
            if heard.text:
                return heard
            self._speech = False  # vosk closed a wordless segment; keep listening
            self._partial = ""
        elif (self._speech and self._quiet >= lim.end_silence) or self._frames % 10 == 0:
            # PartialResult costs ~20% of decoding: poll it every 200 ms to
            # notice speech, and every frame only inside a pause after speech,
            # where the early-end check below needs it.
            self._partial = _norm(json.loads(rec.PartialResult()).get("partial", ""))
            self._speech = self._speech or bool(self._partial)
        if self._speech and (
            self._quiet >= lim.max_pause
            # Grammar-aware early end: the words so far already form a whole
            # phrase, so a short pause is the end, not a gap between words.
            or (self._quiet >= lim.end_silence and match_intents(self._partial, self.intents))
        ):
            return self._parse(rec.FinalResult(), "silence")
        if t >= lim.max_utterance:
            return self._parse(rec.FinalResult(), "max_utterance")
        if not self._speech and t >= lim.no_speech_timeout:
            return Heard("", 0.0, end="no_speech", audio_s=t)
        return None

    def finish_sync(self, end: str = "hangup") -> Heard:
        if self.result is None:
            if self._rec is None:
                self.result = Heard("", 0.0, end=end)
            else:
                self.result = self._parse(self._rec.FinalResult(), end)
        return self.result

    def _parse(self, raw: str, end: str) -> Heard:
        r = json.loads(raw)
        words = tuple(Word(w["word"], float(w.get("conf", 0.0)), float(w.get("start", 0.0)),
                           float(w.get("end", 0.0))) for w in r.get("result", ()))
        words = tuple(w for w in words if w.word != "[unk]") if words else words
        text = _norm(" ".join(w.word for w in words)) if words else _norm(r.get("text", ""))
        conf = sum(w.conf for w in words) / len(words) if words else 0.0
        cands = match_intents(text, self.intents)
        return Heard(text, conf, words, cands[0] if cands else None, cands, end,
                     self._samples / RATE)

    # -- asyncio API ------------------------------------------------------
    async def feed(self, pcm: bytes) -> Heard | None:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor or default_executor(), self.feed_sync, pcm)

    async def finish(self, end: str = "hangup") -> Heard:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor or default_executor(), self.finish_sync, end)

    async def run(self, chunks: AsyncIterable[bytes]) -> Heard:
        """Consume audio until decided; if the source ends first, finalise
        with end="hangup" (or "no_speech" if nothing was said)."""
        async for pcm in chunks:
            heard = await self.feed(pcm)
            if heard is not None:
                return heard
        return await self.finish("hangup" if self._speech else "no_speech")


async def listen(listener: object, recognition: Recognition, *, hangup: bool = True) -> Heard:
    """Glue: recognise from an AudioSocket ``Listener`` and, once decided,
    send the hangup frame so the dialplan resumes at once."""
    from .audiosocket import Listener

    assert isinstance(listener, Listener)
    await listener
    try:
        return await recognition.run(_batched(listener))
    finally:
        if hangup:
            listener.hangup()


async def _batched(listener: object):  # type: ignore[no-untyped-def]
    # Hand the worker every frame already queued in one go: fewer thread hops
    # when the decoder fell behind, no added latency when it keeps up.
    from .audiosocket import Kind, Listener

    assert isinstance(listener, Listener)
    q = listener.frames
    while True:
        f = await q.get()
        buf = bytearray()
        while True:
            if f.kind is Kind.HANGUP:
                if buf:
                    yield bytes(buf)
                return
            if f.kind is Kind.AUDIO:
                buf += f.payload
            if q.empty():
                break
            f = q.get_nowait()
        if buf:
            yield bytes(buf)
