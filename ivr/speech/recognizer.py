"""Grammar-constrained vosk recognition of one caller utterance.

One ``SpeechModel`` (≈530 MB, ~2 s to load) is shared by all calls; each
utterance gets its own ``Recognition`` whose KaldiRecognizer only ever runs
in a worker thread (vosk releases the GIL while decoding), one chunk at a
time, so the event loop is never blocked.

End of utterance is whichever comes first:
* vosk's endpoint (conf/model.conf: rule2 needs 0.5 s trailing silence, in
  practice 0.6-1.3 s after the last speech with these clips),
* ours, grammar-aware: the audio has been quiet (energy below a
  noise-floor-relative threshold) for ``end_silence`` (0.2 s) and the
  partial result already is a whole grammar phrase -> ~220 ms; or quiet for
  ``max_pause`` (0.6 s) after any word. Shortening vosk's rule2 instead
  (``trailing_silence``) cut "이상 | 반응" at the gap between its words.
* ``no_speech_timeout`` with no word yet, or ``max_utterance``.
"""
from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import threading
import warnings
from collections.abc import AsyncIterable, Iterable, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import vosk

with warnings.catch_warnings():  # stdlib until 3.13, then the audioop-lts package
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

from ivr.telephony.audiosocket import Kind, Listener
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
    return float(audioop.rms(pcm[: len(pcm) // 2 * 2], 2))  # C: 25x faster than Python


@dataclass
class _Limits:
    no_speech_timeout: float = 5.0
    max_utterance: float = 10.0
    end_silence: float = 0.2
    max_pause: float = 0.6
    silence_floor: float = 200.0  # RMS below this is always silence


class Recognition:
    """Recognise one utterance (single use). Either ``listen(listener, rec)``,
    or ``push(pcm)`` + ``await rec.decided`` / ``await rec.finish()``, or
    ``await run(async_chunks)``, or ``await feed(pcm)`` per chunk; threads
    and tests may call ``feed_sync``/``finish_sync`` directly."""

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
        self._pending: list[bytes] = []
        self._scheduled = False
        self._lock = threading.Lock()  # guards _pending/_scheduled
        self._decode_lock = threading.Lock()  # one decode at a time, in order
        self._decided: asyncio.Future[Heard] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

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
        elif lim.end_silence <= self._quiet <= lim.max_pause or self._frames % 10 == 0:
            # PartialResult costs ~20% of decoding: poll it every 200 ms to
            # notice speech, and every frame only inside the short window
            # after a sound where the early-end check below needs it.
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

    def finish_sync(self, end: str | None = None) -> Heard:
        """Finalise now; ``end`` defaults to "hangup", or "no_speech" when no
        word was recognised."""
        if self.result is None:
            heard = (self._parse(self._rec.FinalResult(), end or "hangup") if self._rec
                     else Heard("", 0.0, end=end or "no_speech"))
            if end is None and not heard.text:
                heard = Heard("", 0.0, end="no_speech", audio_s=heard.audio_s)
            self.result = heard
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
    # Audio is pushed from the event loop without awaiting: a single drain
    # job per recognition decodes everything pending, so under load chunks
    # coalesce and the loop is woken once per utterance (when decided), not
    # once per 20 ms frame. The decode lock keeps chunks in order even when
    # two pool threads pick up jobs for the same recognition.

    def _exec(self) -> Executor:
        return self.executor or default_executor()

    def _future(self) -> asyncio.Future[Heard]:
        if self._decided is None:
            self._loop = asyncio.get_running_loop()
            self._decided = self._loop.create_future()
        return self._decided

    @property
    def decided(self) -> asyncio.Future[Heard]:
        """Resolves with the ``Heard`` as soon as the utterance is decided."""
        return self._future()

    def push(self, pcm: bytes) -> None:
        """Queue audio for decoding (call from the event loop; non-blocking)."""
        self._future()
        with self._lock:
            if self.result is not None:
                return
            self._pending.append(pcm)
            if self._scheduled:
                return
            self._scheduled = True
        self._exec().submit(self._drain)

    def _take(self) -> bytes:
        with self._lock:
            data = b"".join(self._pending)
            self._pending.clear()
            self._scheduled = False
            return data

    def _drain(self) -> None:
        try:
            with self._decode_lock:
                heard = self.feed_sync(self._take())
        except BaseException as e:  # surface decoder errors to the awaiting task
            self._publish(e)
            return
        if heard is not None:
            self._publish(heard)

    def _finish_job(self, end: str | None) -> Heard:
        with self._decode_lock:
            self.feed_sync(self._take())
            return self.finish_sync(end)

    def _publish(self, outcome: Heard | BaseException) -> None:
        def resolve() -> None:
            fut = self._decided
            if fut is not None and not fut.done():
                if isinstance(outcome, BaseException):
                    fut.set_exception(outcome)
                else:
                    fut.set_result(outcome)
        assert self._loop is not None
        self._loop.call_soon_threadsafe(resolve)

    async def finish(self, end: str | None = None) -> Heard:
        """The audio source ended: decode what is pending, then finalise with
        ``end`` (default "hangup", or "no_speech" if no word was heard)."""
        fut = self._future()
        if not fut.done():
            heard = await asyncio.get_running_loop().run_in_executor(
                self._exec(), self._finish_job, end)
            if not fut.done():
                fut.set_result(heard)
        return await fut

    async def feed(self, pcm: bytes) -> Heard | None:
        """Decode one chunk and wait for it (simple, one thread hop per call)."""
        self.push(pcm)
        fut = self._future()
        # Wait until this chunk is decoded: a no-op job queued behind it.
        await asyncio.get_running_loop().run_in_executor(self._exec(), self._barrier)
        return fut.result() if fut.done() else None

    def _barrier(self) -> None:
        with self._decode_lock:
            self.feed_sync(self._take())

    async def run(self, chunks: AsyncIterable[bytes]) -> Heard:
        """Consume audio until decided (or the source ends: ``finish``)."""
        fut = self._future()
        async for pcm in chunks:
            self.push(pcm)
            if fut.done():
                return fut.result()
        return await self.finish()


async def listen(listener: Listener, recognition: Recognition, *,
                 connect_timeout: float = 10.0) -> Heard:
    """Recognise from an AudioSocket ``Listener``; as soon as it is decided,
    send the hangup frame so AudioSocket() returns 0 and the dialplan goes on.
    Raises TimeoutError if Asterisk never connects (a late call is hung up)."""
    heard = await listen_or_key(listener, recognition, keys=frozenset(),
                                connect_timeout=connect_timeout)
    assert isinstance(heard, Heard)
    return heard


async def listen_or_key(listener: Listener, recognition: Recognition, keys: frozenset[str], *,
                        connect_timeout: float = 10.0) -> Heard | str:
    """Like ``listen``, but a key in ``keys`` pressed meanwhile (AudioSocket DTMF frames,
    Asterisk 22.4+) ends the listening at once and is returned instead of a ``Heard``."""
    q = listener.frames
    early = [q.get_nowait() for _ in range(q.qsize())]  # audio queued before we got here
    if any(f.kind is Kind.HANGUP for f in early):
        return await recognition.finish()
    for f in early:
        if f.kind is Kind.AUDIO:
            recognition.push(f.payload)
        elif f.kind is Kind.DTMF and f.digit in keys:
            listener.hangup()
            return f.digit
    # Set the sink before Asterisk connects: the first 20 ms frames follow
    # the UUID immediately and must not be lost (that once cost 120 ms).
    listener.sink = recognition.push
    fut = recognition.decided
    try:
        try:
            await asyncio.wait_for(asyncio.shield(listener.connected), connect_timeout)
        except TimeoutError:
            listener.hangup()
            raise
        fut.add_done_callback(lambda _: listener.hangup())
        while (frame := await q.get()).kind is not Kind.HANGUP:
            if frame.kind is Kind.DTMF and frame.digit in keys:
                listener.hangup()
                return frame.digit
    finally:
        listener.sink = None
    return await recognition.finish()  # the decided Heard if already decided
