"""Answering-machine and person greetings for outbound tests and bench/outbound.py (issue 15):
espeak-ng speech as headerless 8 kHz µ-law, for SIPp's rtp_stream.

A machine plays a long greeting ("you have reached…, leave a message after the tone"); a
person says a short "hello?" and waits. Both start after a short silence, as a phone does
(and Asterisk learns the RTP source before the speech), and are followed by silence, so
AMD hears what follows the greeting too. Varied voices, speeds and pitches: the measure is
of AMD on many greetings, not on one."""
from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

SILENCE = b"\xff" * 8000            # one second of µ-law silence
MACHINE_TEXTS = [
    ("en-us", "Hello, you have reached the voicemail of {name}. I am not available right now. "
              "Please leave your message after the tone."),
    ("en-gb", "Hi, this is {name}. Sorry I missed your call, leave a message and I will call you back."),
    ("fr-fr", "Bonjour, vous êtes bien sur la messagerie de {name}. Je ne suis pas disponible pour "
              "le moment, laissez-moi un message après le bip."),
    ("de", "Guten Tag, Sie sind mit der Mailbox von {name} verbunden. Bitte hinterlassen Sie eine "
           "Nachricht nach dem Signalton."),
    ("es", "Hola, ha llamado a {name}. En este momento no puedo atenderle, deje su mensaje "
           "después de la señal."),
]
HUMAN_TEXTS = [("en-us", "Hello?"), ("en-gb", "Yes?"), ("fr-fr", "Allô ?"), ("de", "Hallo?"),
               ("es", "¿Diga?")]
NAMES = ["Anne", "Paul", "Marie", "Karl", "Lucia"]


@dataclass(frozen=True)
class Greeting:
    name: str
    machine: bool
    audio: bytes                     # µ-law, silence before and after included

    @property
    def speech_seconds(self) -> float:
        return len(self.audio) / 8000


def _speak(text: str, voice: str, speed: int, pitch: int) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        wav, ulaw = Path(tmp) / "g.wav", Path(tmp) / "g.ul"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w",
                        str(wav), text], check=True, capture_output=True)
        subprocess.run(["sox", "-R", "-D", str(wav), "-r", "8000", "-c", "1", "-t", "ul", str(ulaw)],
                       check=True, capture_output=True)
        return ulaw.read_bytes()


def greetings(count: int, machine: bool, lead_s: float = 0.4, tail_s: float = 12.0) -> list[Greeting]:
    """`count` different greetings of one kind (voice × speed × pitch × name)."""
    texts = MACHINE_TEXTS if machine else HUMAN_TEXTS
    out = []
    for i in range(count):
        voice, text = texts[i % len(texts)]
        speed, pitch = (150, 170, 130, 190)[i // len(texts) % 4], (50, 35, 65, 45)[i % 4]
        speech = _speak(text.format(name=NAMES[i % len(NAMES)]), voice, speed, pitch)
        out.append(Greeting(f"{'machine' if machine else 'human'}-{i:02d}", machine,
                            SILENCE[: int(8000 * lead_s)] + speech + SILENCE * int(tail_s)))
    return out
