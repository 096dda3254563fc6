"""Speech recognition building blocks for the ``speech`` dialplan node:
AudioSocket transport, grammar-based vosk recognition, confidence decision."""
from .audiosocket import AudioSocketServer, Frame, FrameError, FrameParser, Kind, Listener
from .confidence import PHARMACOVIGILANCE, Decision, Outcome, decide
from .modeldir import ModelNotFound, resolve_model_path, tuned_model_dir
from .recognizer import Heard, Recognition, SpeechModel, Word, listen, match_intents

__all__ = [
    "AudioSocketServer", "Frame", "FrameError", "FrameParser", "Kind", "Listener",
    "PHARMACOVIGILANCE", "Decision", "Outcome", "decide",
    "ModelNotFound", "resolve_model_path", "tuned_model_dir",
    "Heard", "Recognition", "SpeechModel", "Word", "listen", "match_intents",
]
