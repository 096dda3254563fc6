"""Typed model of a YAML dialplan.

Shape (all node ids match ``[a-z][a-z0-9_-]*``; they also name sound files)::

    name: hotline
    languages: [fr, en]
    default_language: fr
    start: welcome                 # node id
    policy:
      human_key: "0"               # every menu must offer it (or give a waiver)
      human_route: operator        # route/transfer node used once a question's tries are used up
      max_menu_depth: 3
      max_retries: 3               # most tries any question may have (see TRIES below)
      safety_key: "9"              # works from EVERY menu, day and night
      safety_route: adverse-event  # route node (pharmacovigilance)
      invalid_prompt: {fr: ..., en: ...}    # optional defaults, ids "invalid" / "no-input"
      no_input_prompt: {fr: ..., en: ...}
    nodes:
      main:
        type: menu
        prompt: {fr: "Pour ...", en: "For ..."}      # id "main" -> sounds/<lang>/main.wav
        options: {"1": medinfo, "2": orders, "0": operator}
        timeout: 5                 # seconds
        retries: 2                 # tries in all, the first ask included (<= policy.max_retries)
        invalid_prompt: {...}      # id "main-invalid"
        no_input_prompt: {...}     # id "main-noinput"
        human_exit_waiver: "why this menu has no operator key"   # optional
        on_fail: callback          # optional, must reach a person; default policy.human_route
      info:      {type: say, prompt: {...}, next: main}
      account:   {type: collect, prompt: {...}, variable: account, min_length: 6,
                  max_length: 8, terminator: "#", pattern: "^[0-9]+$", next: x,
                  on_invalid: operator, retries: 2, invalid_prompt: {...}}
      orders:    {type: route, queue: orders, intent: order, required: "orders and {language}",
                  priority: 5, agent: null, prompt: {...}}  # prompt played before routing
      pharmacy:  {type: transfer, destination: "+33123456789"}
      open:      {type: hours, tz: Europe/Paris, weekly: {mon: ["08:30-18:00"], ...},
                  holidays: ["2026-12-25"], open: main, closed: closed-msg}
      who:       {type: lookup, variable: caller, preferred_agent: true,
                  branches: {pharmacist: orders, unknown: main}, default: main}
      lang:      {type: language, prompt: {...}, options: {"1": fr, "2": en}, next: hours}
      bye:       {type: hangup, prompt: {...}}
      vip:       {type: condition, if: 'contact_type == "doctor"', then: a, else: b}
      ask:       {type: speech, prompt: {...}, options: {"1": orders, "0": operator},
                  intents: {order: {phrases: {fr: [commande], en: [order]}, next: orders,
                                    label: {fr: commandes, en: orders}}},
                  high: 0.8, low: 0.5,            # default policy.speech_high / speech_low
                  no_speech_timeout: 5, max_utterance: 10, retries: 2,
                  confirm_prompt: {en: "You said {intent_label}, is that right? ..."},
                  reask_prompt: {...},            # id "ask-reask"
                  yes: {...}, no: {...}}          # default policy.yes / policy.no
      # ids "ask-confirm-<intent>": confirm_prompt with {intent_label} = the intent's
      # label (default: its first phrase) in that language.

    TRIES: every `retries` field and policy.max_retries count *tries*, the first ask
    included: `retries: 3` asks at most three times, then the node's fallback. A try is used
    up by an invalid key, a timeout (no key), a refused digit string, or a speech answer not
    understood well enough; the safety key and the human key always work.

    The policy of a plan with speech nodes also carries (see SpeechNode):
      safety_phrases: {fr: [effet indésirable], en: [side effect]}  # intent "adverse-event"
      yes: {fr: [oui], en: ["yes"]}
      no: {fr: [non], en: ["no"]}
      speech_high: 0.8
      speech_low: 0.5

Adding a node kind (e.g. ``speech``): define a model with ``type: Literal["speech"]``,
add it to ``Node`` below, give it ``prompt_fields``/``targets`` and a walker
``_node_speech`` handler.
"""
from __future__ import annotations

import hashlib
import json
import re
from datetime import date, time
from typing import Annotated, Any, ClassVar, Literal, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from . import expr

NodeId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$")]
Key = Annotated[str, Field(pattern=r"^[0-9*#]$")]
Lang = Annotated[str, Field(pattern=r"^[a-z]{2,3}$")]
Prompt = dict[Lang, Annotated[str, Field(min_length=1)]]
IntentId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$")]
Phrase = Annotated[str, Field(min_length=1, pattern=r"\S")]
Phrases = dict[Lang, list[Phrase]]  # language -> phrases (a grammar per language)
ADVERSE_INTENT = "adverse-event"   # intent of policy.safety_phrases in every speech node
CONFIRM_TEMPLATE = "{intent_label}"
CONTACT_TYPES = ("pharmacist", "doctor", "patient", "student", "other", "unknown")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class _Node(_Model):
    # field name -> suffix of the prompt id ("" = the node id itself)
    prompt_fields: ClassVar[dict[str, str]] = {}
    # fields holding node ids (str, or dict of str)
    target_fields: ClassVar[tuple[str, ...]] = ()

    def prompts(self) -> dict[str, Prompt]:
        """{field: prompt} for the prompts this node actually defines."""
        return {f: getattr(self, f) for f in self.prompt_fields if getattr(self, f)}

    def prompt_items(self, nid: str) -> list[tuple[str, Prompt, tuple[Any, ...]]]:
        """[(prompt id, texts by language, YAML path)] of this node's prompts."""
        return [(prompt_id(nid, f, self), p, ("nodes", nid, f)) for f, p in self.prompts().items()]

    def targets(self) -> list[tuple[tuple[str, ...], str]]:
        """[(path inside node, node id)] for every outgoing edge."""
        out: list[tuple[tuple[str, ...], str]] = []
        for f in self.target_fields:
            v = getattr(self, f)
            if isinstance(v, str):
                out.append(((f,), v))
            elif isinstance(v, dict):
                out.extend(((f, k), t) for k, t in v.items())
        return out


SURVEY_SCALES = {"csat": (r"^[1-5]$", 1), "nps": (r"^([0-9]|10)$", 2)}   # pattern, most digits
SURVEY_KEYS = {"csat": frozenset("12345"), "nps": frozenset("0123456789")}  # keys an answer uses

TRIES = ("tries in all, the first ask included; each invalid key, wrong digit string, "
         "timeout (no answer) or speech answer not understood uses one; then the fallback")


class MenuNode(_Node):
    type: Literal["menu"]
    prompt: Prompt
    options: dict[Key, NodeId] = Field(min_length=1)
    timeout: float = Field(5.0, gt=0, le=60)
    retries: int | None = Field(None, ge=1, description=TRIES + "; default policy.max_retries")
    invalid_prompt: Prompt | None = None
    no_input_prompt: Prompt | None = None
    human_exit_waiver: str | None = Field(None, min_length=3)
    on_fail: NodeId | None = Field(None, description="once the tries are used up; default "
                                   "policy.human_route")
    prompt_fields = {"prompt": "", "invalid_prompt": "-invalid", "no_input_prompt": "-noinput"}
    target_fields = ("options", "on_fail")


class SayNode(_Node):
    type: Literal["say"]
    prompt: Prompt
    next: NodeId | None = None
    # The caller opts in to the plan's post_call_survey (issue 15): after the agent hangs up,
    # the caller stays on the line and hears the survey (e.g. "1: a short survey after your
    # call" leads here, then back to the menu).
    survey_opt_in: bool = False
    prompt_fields = {"prompt": ""}
    target_fields = ("next",)


class CollectNode(_Node):
    type: Literal["collect"]
    prompt: Prompt
    variable: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$")]
    min_length: int = Field(1, ge=1, le=32)
    max_length: int = Field(16, ge=1, le=32)
    terminator: Literal["#", "*", ""] = "#"
    pattern: str | None = Field(None, description="regex searched in the digits; anchor it")
    timeout: float = Field(10.0, gt=0, le=120)
    retries: int = Field(2, ge=1, description=TRIES)
    invalid_prompt: Prompt | None = None
    next: NodeId | None = None
    on_invalid: NodeId | None = Field(None, description="default: policy.human_route")
    # A survey question (issue 15): csat 1-5 or nps 0-10 by keys; the answer is stored with
    # the call's agent, queue and campaign (`ivr surveys`). Sets the pattern and lengths.
    # policy.survey_safety_key (default "*", not a score) ends the survey at once and routes
    # the caller to policy.safety_route: a side effect is never read as a score.
    survey: Literal["csat", "nps"] | None = None
    # A survey question may also take the answer spoken ("four", "very satisfied"), through the
    # plan's speech path (the engine's speech model; keys still work): survey_words.py.
    speech: bool = False
    prompt_fields = {"prompt": "", "invalid_prompt": "-invalid"}
    target_fields = ("next", "on_invalid")

    @model_validator(mode="after")
    def _lengths(self) -> "CollectNode":
        if self.survey is not None:
            pattern, longest = SURVEY_SCALES[self.survey]
            object.__setattr__(self, "pattern", self.pattern or pattern)
            object.__setattr__(self, "max_length", min(self.max_length, longest))
            if longest == 1:     # one key is the whole answer: no terminator to wait for
                object.__setattr__(self, "terminator", "")
        if self.speech and self.survey is None:
            raise ValueError("speech: true is for survey questions (survey: csat or nps)")
        if self.min_length > self.max_length:
            raise ValueError("min_length is greater than max_length")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"bad pattern: {exc}") from None
        return self


class RouteNode(_Node):
    type: Literal["route"]
    queue: str
    intent: str
    required: str | None = Field(None, description="skills expression, e.g. 'pv >= 3 and {language}' (the ACD's language)")
    priority: int = Field(0, ge=0, le=100)
    agent: str | None = None
    prompt: Prompt | None = None
    prompt_fields = {"prompt": ""}

    @field_validator("required")
    @classmethod
    def _skills(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                expr.skill_names(v)
            except expr.ExprError as exc:
                raise ValueError(str(exc)) from None
        return v


class TransferNode(_Node):
    type: Literal["transfer"]
    destination: Annotated[str, Field(pattern=r"^\+?[0-9*#]{2,20}$")]
    prompt: Prompt | None = None
    prompt_fields = {"prompt": ""}


class HoursNode(_Node):
    type: Literal["hours"]
    tz: str
    weekly: dict[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], list[str]]
    holidays: list[date] = []
    open: NodeId
    closed: NodeId
    target_fields = ("open", "closed")

    @field_validator("tz")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}") from None
        return v

    @field_validator("weekly")
    @classmethod
    def _ranges(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for day, ranges in v.items():
            for r in ranges:
                m = _RANGE.match(str(r))
                if not m or (m[1], m[2]) >= (m[3], m[4]):
                    raise ValueError(f"{day}: bad range {r!r}, expected 'HH:MM-HH:MM' (quoted)")
        return v

    def is_open(self, local_day: date, local_time: time) -> bool:
        if local_day in self.holidays:
            return False
        hm = local_time.strftime("%H:%M")
        return any(r[:5] <= hm < r[6:] for r in self.weekly.get(DAYS[local_day.weekday()], []))


class LookupNode(_Node):
    type: Literal["lookup"]
    variable: str = Field("caller", description="call variable holding the caller's number")
    preferred_agent: bool = False
    branches: dict[Literal["pharmacist", "doctor", "patient", "student", "other", "unknown"],
                   NodeId] = {}
    default: NodeId
    target_fields = ("branches", "default")


class LanguageNode(_Node):
    type: Literal["language"]
    prompt: Prompt  # played in every declared language, in order
    options: dict[Key, Lang] = Field(min_length=1)
    timeout: float = Field(5.0, gt=0, le=60)
    retries: int = Field(2, ge=1, description=TRIES + " (no answer keeps the default "
                         "language)")
    next: NodeId | None = None
    prompt_fields = {"prompt": ""}
    target_fields = ("next",)


class HangupNode(_Node):
    type: Literal["hangup"]
    prompt: Prompt | None = None
    prompt_fields = {"prompt": ""}


class ConditionNode(_Node):
    type: Literal["condition"]
    if_: str = Field(alias="if")
    then: NodeId
    else_: NodeId = Field(alias="else")
    target_fields = ("then", "else_")

    @field_validator("if_")
    @classmethod
    def _expr(cls, v: str) -> str:
        try:
            expr.condition_names(v)
        except expr.ExprError as exc:
            raise ValueError(str(exc)) from None
        return v


class Intent(_Model):
    phrases: Phrases = Field(min_length=1, description="what the caller may say, per language")
    next: NodeId
    label: Prompt | None = Field(None, description="{intent_label} of confirm_prompt; "
                                 "default: the first phrase in that language")


class SpeechNode(_Node):
    """Ask a question the caller answers by voice (or with a key, as in a menu).

    Confidence bands (mean word confidence of the matched phrase): >= high -> the
    intent's `next`; [low, high) -> "You said ..., is that right?" (yes/no by voice,
    or keys 1/2); below low or nothing matched -> ask again (`retries` tries in all), then
    `on_fail` / policy.human_route. policy.safety_phrases (intent "adverse-event")
    and the safety key always go to policy.safety_route."""
    type: Literal["speech"]
    prompt: Prompt
    intents: dict[IntentId, Intent] = Field(min_length=1)
    options: dict[Key, NodeId] = {}
    high: float | None = Field(None, ge=0, le=1, description="default policy.speech_high")
    low: float | None = Field(None, ge=0, le=1, description="default policy.speech_low")
    no_speech_timeout: float = Field(5.0, gt=0, le=60)
    max_utterance: float = Field(10.0, gt=0, le=60)
    retries: int = Field(2, ge=1, description=TRIES)
    confirm_prompt: Prompt | None = Field(None, description="template, {intent_label}")
    reask_prompt: Prompt | None = None
    yes: Phrases | None = Field(None, description="default policy.yes")
    no: Phrases | None = Field(None, description="default policy.no")
    human_exit_waiver: str | None = Field(None, min_length=3)
    on_fail: NodeId | None = Field(None, description="once the tries are used up; default "
                                   "policy.human_route")
    prompt_fields = {"prompt": "", "reask_prompt": "-reask"}
    target_fields = ("options", "on_fail")

    @model_validator(mode="after")
    def _bands(self) -> "SpeechNode":
        if self.high is not None and self.low is not None and self.low > self.high:
            raise ValueError(f"low {self.low} is greater than high {self.high}")
        if ADVERSE_INTENT in self.intents:
            raise ValueError(f"intent {ADVERSE_INTENT!r} is reserved for policy.safety_phrases")
        return self

    def targets(self) -> list[tuple[tuple[str, ...], str]]:
        return super().targets() + [(("intents", name, "next"), i.next)
                                    for name, i in self.intents.items()]

    def confirm_id(self, nid: str, intent: str) -> str:
        return f"{nid}-confirm-{intent}"

    def confirm_texts(self, intent: str) -> Prompt:
        """confirm_prompt with {intent_label} filled in, for each language where
        both the template and a label (or a phrase) exist."""
        out: Prompt = {}
        it = self.intents[intent]
        for lang, template in (self.confirm_prompt or {}).items():
            label = (it.label or {}).get(lang) or next(iter(it.phrases.get(lang) or ()), None)
            if label is not None or CONFIRM_TEMPLATE not in template:
                out[lang] = template.replace(CONFIRM_TEMPLATE, label or "")
        return out

    def prompt_items(self, nid: str) -> list[tuple[str, Prompt, tuple[Any, ...]]]:
        out = super().prompt_items(nid)
        if self.confirm_prompt:
            out += [(self.confirm_id(nid, name), self.confirm_texts(name),
                     ("nodes", nid, "confirm_prompt")) for name in self.intents]
        return out


Node = Annotated[
    Union[MenuNode, SayNode, CollectNode, RouteNode, TransferNode, HoursNode,
          LookupNode, LanguageNode, HangupNode, ConditionNode, SpeechNode],
    Field(discriminator="type"),
]
HUMAN_TYPES = ("route", "transfer")  # nodes that put the caller in touch with a person
TERMINAL_TYPES = ("route", "transfer", "hangup")


class Policy(_Model):
    human_key: Key = "0"
    human_route: NodeId
    max_menu_depth: int = Field(3, ge=1)
    max_retries: int = Field(3, ge=1, description="the most tries any question may have, "
                             "the first ask included (a node's `retries` may not exceed it); "
                             "each invalid key, wrong digit string, timeout or speech answer "
                             "not understood uses one, then the human route")
    safety_key: Key = "9"
    safety_route: NodeId
    survey_safety_key: Key = Field("*", description="during a survey question (csat/nps), the "
                                   "key that ends the survey and takes the caller to "
                                   "safety_route (a side effect to report): never an answer key "
                                   "(`ivr check`), and the survey's first prompt should say it")
    invalid_prompt: Prompt | None = None
    no_input_prompt: Prompt | None = None
    callback_offer_prompt: Prompt | None = Field(None, description="said while a caller waits, "
                                                 "when the queue offers a callback: which key "
                                                 "to press")
    callback_confirm_prompt: Prompt | None = Field(None, description="said when a waiting "
                                                   "caller pressed the callback key: what "
                                                   "happens next (we call back at this number…)")
    # speech nodes
    safety_phrases: Phrases | None = Field(None, description="adverse-event phrases, "
                                           "recognised in every speech node")
    yes: Phrases | None = None
    no: Phrases | None = None
    speech_high: float = Field(0.8, ge=0, le=1)
    speech_low: float = Field(0.5, ge=0, le=1)

    @model_validator(mode="after")
    def _bands(self) -> "Policy":
        if self.speech_low > self.speech_high:
            raise ValueError(f"speech_low {self.speech_low} is greater than "
                             f"speech_high {self.speech_high}")
        return self


class Plan(_Model):
    name: str
    languages: list[Lang] = Field(min_length=1)
    default_language: Lang
    start: NodeId
    policy: Policy
    nodes: dict[NodeId, Node] = Field(min_length=1)
    post_call_survey: NodeId | None = Field(None, description="the first node of the survey a "
                                            "caller who passed a `survey_opt_in` node hears "
                                            "after the agent hangs up (collect nodes with "
                                            "`survey:`, ending with a hangup)")
    _source: Any = PrivateAttr(None)  # source.Source, set by the loader

    @property
    def source(self) -> Any:
        """Positions of every YAML node (a `source.Source`), or None if built in code."""
        return self._source

    @property
    def version(self) -> str:
        """Short content hash, logged by the CRM with each call."""
        return plan_version(self)

    @model_validator(mode="after")
    def _default_lang(self) -> "Plan":
        if self.default_language not in self.languages:
            raise ValueError(f"default_language {self.default_language!r} not in languages")
        if len(set(self.languages)) != len(self.languages):
            raise ValueError("languages are repeated")
        return self


def plan_version(plan: Plan) -> str:
    """Short hash of the normalised plan (comments/formatting don't change it)."""
    blob = json.dumps(plan.model_dump(mode="json", by_alias=True), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def field_alias(node: BaseModel, name: str) -> str:
    """YAML spelling of a field (`else_` -> `else`)."""
    f = type(node).model_fields[name]
    return f.alias or name


def prompt_id(node_id: str, field: str, node: _Node) -> str:
    return node_id + node.prompt_fields[field]


POLICY_PROMPTS = {"invalid_prompt": "invalid", "no_input_prompt": "no-input",
                  "callback_offer_prompt": "callback-offer",
                  "callback_confirm_prompt": "callback-confirm"}


def all_prompts(plan: Plan) -> list[tuple[str, Prompt, tuple[Any, ...]]]:
    """[(prompt id, texts by language, YAML path)] for the whole plan."""
    out: list[tuple[str, Prompt, tuple[Any, ...]]] = []
    for f, pid in POLICY_PROMPTS.items():
        p = getattr(plan.policy, f)
        if p:
            out.append((pid, p, ("policy", f)))
    for nid, node in plan.nodes.items():
        out += node.prompt_items(nid)
    return out


def speech_bands(plan: Plan, node: SpeechNode) -> tuple[float, float]:
    """(high, low) of a speech node, policy defaults filled in."""
    pol = plan.policy
    return (pol.speech_high if node.high is None else node.high,
            pol.speech_low if node.low is None else node.low)


def yes_no(plan: Plan, node: SpeechNode) -> tuple[Phrases, Phrases]:
    return node.yes or plan.policy.yes or {}, node.no or plan.policy.no or {}
