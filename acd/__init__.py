"""Pure skill-based ACD core (no I/O): see acd.core.Acd."""
from .actions import (Announce, CancelOffer, Diverted, Escalated, OfferCall, OfferCallbackChoice,
                      Overflowed, StartCallback)
from .config import AcdConfig, AgentSpec, EscalationStep, QueueSpec
from .core import Acd, AgentState
from .events import (AgentLoggedIn, AgentLoggedOut, AgentPaused, AgentReady, CallAbandoned,
                     CallArrived, CallbackRequested, CallEnded, DeviceBusy, OfferAnswered,
                     OfferFailed, Tick, WrapUpExtended)
from .skills import SkillExpressionError, compile_requirement

__all__ = [
    "Acd", "AcdConfig", "AgentSpec", "AgentState", "QueueSpec", "EscalationStep",
    "CallArrived", "AgentLoggedIn", "AgentLoggedOut", "AgentPaused", "AgentReady", "DeviceBusy",
    "OfferAnswered", "OfferFailed", "CallEnded", "CallAbandoned", "CallbackRequested", "Tick", "WrapUpExtended",
    "OfferCall", "CancelOffer", "StartCallback", "Announce", "Escalated", "Overflowed",
    "OfferCallbackChoice", "Diverted", "SkillExpressionError", "compile_requirement",
]
