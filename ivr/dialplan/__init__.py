"""YAML dialplans: typed model, loader with positions, static checks, sans-IO walker."""
from .checks import Catalog, check_plan
from .instructions import (TERMINAL, AskDigit, AskDigits, Hangup, Instruction, Listen,
                           LookupCaller, Play, Route, SpeechInput, Transfer)
from .loader import (check_paths, check_text, load_checked, load_plan, load_plan_text,
                     parse_plan)
from .model import Plan
from .problems import PlanInvalid, Problem
from .walker import Walker

__all__ = ["Catalog", "check_paths", "check_plan", "check_text", "load_checked", "TERMINAL", "AskDigit",
           "AskDigits", "Hangup", "Instruction", "Listen", "LookupCaller", "Play", "Route",
           "SpeechInput", "Transfer",
           "load_plan", "load_plan_text", "parse_plan", "Plan", "PlanInvalid", "Problem",
           "Walker"]
