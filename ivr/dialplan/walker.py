"""Sans-IO runtime for a plan (in the spirit of h11): no sockets, no clock of its own.

    walker = Walker(plan, {"caller": "+33612345678"}, now=dialplan_clock)
    instr = walker.start()
    while not isinstance(instr, TERMINAL):
        instr = walker.send(execute(instr))   # engine talks to the caller

`now` is required: the walker never reads the wall clock itself, so an `hours` node decides
on the time its owner gives it (the engine's dialplan clock, a test's fixed instant).

Internally a generator: each `yield` hands an instruction out and gets the
caller's result back, so each node handler reads top-to-bottom.

Speech nodes yield `Listen` and take back a `SpeechInput` (or, from an engine
without a speech model, a key string / None); after the walk `walker.speech`
holds the last speech decision for the call record.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Generator
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from ivr.speech.confidence import Outcome, decide

from . import expr
from .instructions import (TERMINAL, AskDigit, AskDigits, Hangup, Instruction, Listen,
                           LookupCaller, Play, Route, SpeechInput, Transfer)
from .model import (ADVERSE_INTENT, CONTACT_TYPES, POLICY_PROMPTS, SURVEY_KEYS, Phrases, Plan,
                    SpeechNode, prompt_id, speech_bands, yes_no)
from .survey_words import score_grammar, score_of

SPOKEN_SCORE_S = 4.0   # longest spoken score heard ("pas du tout satisfait")
NEXT_KEY_S = 2.0       # after a first NPS key by phone, how long a second one may follow
MAX_STEPS = 200  # guard against loops the checker could not see (e.g. condition cycles)
Flow = Generator[Instruction, Any, str | None]  # returns the next node id
RouteKind = Literal["dtmf", "speech", "default", "fallback"]
# walker.speech["outcome"] for each decide() outcome
SPEECH_OUTCOMES = {Outcome.ROUTE: "routed", Outcome.CONFIRM: "confirmed",
                   Outcome.REASK: "reasked", Outcome.HUMAN: "human"}


class _Jump(Exception):
    """Leave the current node (even mid-retry) for `target`: the safety key."""

    def __init__(self, target: str) -> None:
        self.target = target


class Walker:
    def __init__(self, plan: Plan, variables: dict[str, str] | None = None, *,
                 now: Callable[[], datetime]) -> None:
        self.plan = plan
        self.variables: dict[str, str] = dict(variables or {})
        lang = self.variables.get("language", "")
        self.language: str = lang if lang in plan.languages else plan.default_language
        self.path: list[dict[str, Any]] = []
        # how the caller got to the terminal: "dtmf" = last decision was a key press,
        # "default" = no key decided it (lookup/hours/...), "fallback" = retries exhausted,
        # "speech" = the last decision was a recognised (or confirmed) intent
        self.route_kind: RouteKind = "default"
        # last speech decision, for the CRM (speech_text / speech_confidence / intent /
        # speech_outcome): {"text", "confidence", "intent", "outcome"} with outcome
        # routed | confirmed | reasked | human; None if no speech node decided anything
        self.speech: dict[str, Any] | None = None
        self.result: Instruction | None = None
        self._now = now
        self._preferred_agent: str | None = None
        self._gen: Generator[Instruction, Any, None] | None = None
        self._pending: Instruction | None = None

    # ---- public protocol ----
    @property
    def finished(self) -> bool:
        return self.result is not None

    def start(self) -> Instruction:
        if self._gen is not None:
            raise RuntimeError("walker already started")
        self._gen = self._run()
        return self._emit(next(self._gen))

    def walk_on(self, nid: str) -> Instruction:
        """A second walk from node `nid` once the first one ended (the post-call survey):
        the same language, variables and path, which goes on growing. A walker never
        started (a caller resumed after a failover) walks from `nid` at once."""
        if not self.finished and self._gen is not None:
            raise RuntimeError("walk_on: the first walk is not over")
        self.result = None
        self._gen = self._run(nid)
        return self._emit(next(self._gen))

    def send(self, result: Any) -> Instruction:
        if self.finished:
            raise RuntimeError("walk is over: terminal instruction already returned")
        if self._gen is None or self._pending is None:
            raise RuntimeError("walker not started, or closed")
        self._validate(self._pending, result)
        return self._emit(self._gen.send(result))

    @staticmethod
    def _validate(instr: Instruction, result: Any) -> None:
        ok = {Play: result is None,
              AskDigit: result is None or isinstance(result, str),
              AskDigits: result is None or isinstance(result, str),
              Listen: result is None or isinstance(result, (str, SpeechInput)),
              LookupCaller: result is None or isinstance(result, dict)}.get(type(instr), False)
        if not ok:
            raise TypeError(f"bad result {result!r} for {type(instr).__name__}")

    def close(self) -> None:
        """The call is over (walk finished or not). The suspended generator's frame refers
        back to this walker: a cycle that only the garbage collector's oldest generation
        would free, thousands of calls later. Closing it frees the walk at once."""
        if self._gen is not None:
            self._gen.close()
            self._gen = None

    def _emit(self, instr: Instruction) -> Instruction:
        self._pending = instr
        if isinstance(instr, TERMINAL):
            self.result = instr
            self.close()
        return instr

    # ---- helpers ----
    def _ids(self, nid: str, *fields: str, lang: str | None = None) -> tuple[str, ...]:
        """Resolved ids of the prompts (node fields) that exist, in order."""
        node = self.plan.nodes[nid]
        lang = lang or self.language
        return tuple(f"{lang}/{prompt_id(nid, f, node)}" for f in fields if getattr(node, f, None))

    def _fallback_prompt(self, nid: str, field: str) -> tuple[str, ...]:
        own = self._ids(nid, field)
        if own:
            return own
        if getattr(self.plan.policy, field):
            return (f"{self.language}/{POLICY_PROMPTS[field]}",)
        return ()

    def _ask_key(self, nid: str, prompts: tuple[str, ...], timeout: float, keys: set[str],
                 tries: int) -> Generator[Instruction, Any, str | None]:
        """Ask until a valid key; None once `tries` asks (the first included) got an
        invalid key or no key. The safety key always works (raises _Jump)."""
        safety = self.plan.policy.safety_key
        first = prompts
        for _ in range(tries):
            key = (yield AskDigit(prompts, timeout, frozenset(keys | {safety}))) or None
            if key == safety:
                self.path.append({"node": nid, "input": "safety", "key": key})
                self.route_kind = "dtmf"
                raise _Jump(self.plan.policy.safety_route)
            if key is None:
                self.path.append({"node": nid, "input": "timeout"})
                prompts = self._fallback_prompt(nid, "no_input_prompt") + first
            elif key in keys:
                self.path.append({"node": nid, "input": "key", "key": key})
                return key
            else:
                self.path.append({"node": nid, "input": "invalid", "key": key})
                prompts = self._fallback_prompt(nid, "invalid_prompt") + first
        return None

    def _fallback(self, nid: str, target: str | None = None) -> str:
        self.path.append({"node": nid, "input": "fallback"})
        self.route_kind = "fallback"
        return target or self.plan.policy.human_route

    # ---- main loop ----
    def _run(self, start: str | None = None) -> Generator[Instruction, Any, None]:
        nid: str | None = start or self.plan.start
        steps = 0
        while nid is not None:
            steps += 1
            if steps == MAX_STEPS:  # once: the human route itself is loop-free (checked)
                nid = self._fallback(nid)
            node = self.plan.nodes[nid]
            self.path.append({"node": nid, "type": node.type})
            handler = getattr(self, f"_node_{node.type}")
            try:
                nid = yield from handler(nid, node)
            except _Jump as jump:
                nid = jump.target

    def _node_menu(self, nid: str, node: Any) -> Flow:
        retries = self.plan.policy.max_retries if node.retries is None else node.retries
        key = yield from self._ask_key(nid, self._ids(nid, "prompt"), node.timeout,
                                       set(node.options), retries)
        if key is None:
            return self._fallback(nid, node.on_fail)
        self.route_kind = "dtmf"
        return node.options[key]

    def _node_language(self, nid: str, node: Any) -> Flow:
        # The choice prompt is played in every language ("Pour le français... For English...").
        prompts = tuple(p for lang in self.plan.languages for p in self._ids(nid, "prompt", lang=lang))
        key = yield from self._ask_key(nid, prompts, node.timeout, set(node.options), node.retries)
        if key is not None:  # no answer: keep the default language, don't punish the caller
            self.language = node.options[key]
        self.variables["language"] = self.language
        self.path.append({"node": nid, "language": self.language})
        return node.next

    def _node_say(self, nid: str, node: Any) -> Flow:
        yield Play(self._ids(nid, "prompt"))
        return node.next

    def _node_collect(self, nid: str, node: Any) -> Flow:
        prompts = self._ids(nid, "prompt")
        # a survey question: its safety key is never a score (`ivr check` keeps it apart)
        escape = self.plan.policy.survey_safety_key if node.survey else ""
        for _ in range(node.retries):
            if node.speech:
                spoken = yield from self._spoken_score(nid, node, prompts, escape)
                if spoken is not None:
                    return spoken
                prompts = self._fallback_prompt(nid, "invalid_prompt") + self._ids(nid, "prompt")
                continue
            digits = yield AskDigits(prompts, node.timeout, node.min_length, node.max_length,
                                     node.terminator, escape)
            if escape and digits and escape in digits:
                self.path.append({"node": nid, "input": "safety", "key": escape})
                self.route_kind = "dtmf"
                raise _Jump(self.plan.policy.safety_route)
            value = (digits or "").rstrip(node.terminator) if node.terminator else (digits or "")
            ok = (digits is not None and node.min_length <= len(value) <= node.max_length
                  and value.isdigit() and (node.pattern is None or re.search(node.pattern, value) is not None))
            self.path.append({"node": nid, "input": "digits" if ok else
                              ("timeout" if digits is None else "invalid"), "value": value})
            if ok:
                self.variables[node.variable] = value
                return node.next
            prompts = self._fallback_prompt(nid, "invalid_prompt") + self._ids(nid, "prompt")
        if node.on_invalid:
            return node.on_invalid
        return self._fallback(nid)

    def _spoken_score(self, nid: str, node: Any, prompts: tuple[str, ...],
                      escape: str) -> Generator[Instruction, Any, str | None]:
        """One try of a survey question that takes speech: a score said ("four", "very
        satisfied") or keyed, the survey's safety key or an adverse-event phrase (→ the safety
        route). The next node on an answer, None on a try used up. A spoken score is taken
        from the low band up: a survey score routes no one."""
        grammar = {**score_grammar(node.survey, self.language), **self._grammar({})}
        keys = SURVEY_KEYS[node.survey] | {escape}
        heard = self._heard((yield Listen(prompts, keys, grammar, node.timeout, SPOKEN_SCORE_S, nid)))
        value: str | None = None
        entry: dict[str, Any] = {"node": nid}
        if heard.key is not None:
            value = heard.key
            if heard.key != escape and node.max_length > 1:    # NPS: "1" may be the start of "10"
                rest = yield AskDigits((), NEXT_KEY_S, 1, node.max_length - 1, node.terminator, escape)
                value += rest or ""
            if escape and escape in value:
                self.path.append({"node": nid, "input": "safety", "key": escape})
                self.route_kind = "dtmf"
                raise _Jump(self.plan.policy.safety_route)
        elif heard.intent == ADVERSE_INTENT or ADVERSE_INTENT in heard.candidates:
            self._adverse(nid, heard, input="speech")
            raise _Jump(self.plan.policy.safety_route)
        else:
            score = score_of(heard.intent, node.survey)
            if score is not None and heard.confidence >= self.plan.policy.speech_low:
                value = str(score)
            entry.update(via="speech", text=heard.text, confidence=heard.confidence)
        ok = value is not None and value.isdigit() and re.search(node.pattern, value) is not None
        self.path.append({**entry, "input": "digits" if ok else
                          ("timeout" if value is None and not heard.text else "invalid"),
                          "value": value or ""})
        if not ok:
            return None
        self.variables[node.variable] = value
        return node.next

    def _node_route(self, nid: str, node: Any) -> Flow:
        if node.prompt:
            yield Play(self._ids(nid, "prompt"))
        yield Route(node.queue, node.intent, node.priority,
                    expr.resolve_skills(node.required, self.language),
                    node.agent or self._preferred_agent, nid,
                    nid == self.plan.policy.safety_route or node.intent == ADVERSE_INTENT)
        return None

    def _node_transfer(self, nid: str, node: Any) -> Flow:
        if node.prompt:
            yield Play(self._ids(nid, "prompt"))
        yield Transfer(node.destination, nid)
        return None

    def _node_hangup(self, nid: str, node: Any) -> Flow:
        yield Hangup(self._ids(nid, "prompt"), nid)
        return None

    def _node_hours(self, nid: str, node: Any) -> Flow:
        now = self._now()
        if now.tzinfo is None:  # naive clock = UTC, never the server's local time
            now = now.replace(tzinfo=ZoneInfo("UTC"))
        local = now.astimezone(ZoneInfo(node.tz))
        is_open = node.is_open(local.date(), local.time())
        self.path.append({"node": nid, "open": is_open, "local_time": local.isoformat()})
        return node.open if is_open else node.closed
        yield  # pragma: no cover  (makes this a generator)

    def _node_condition(self, nid: str, node: Any) -> Flow:
        ok = expr.eval_condition(node.if_, {**self.variables, "language": self.language})
        self.path.append({"node": nid, "condition": ok})
        return node.then if ok else node.else_
        yield  # pragma: no cover

    def _node_lookup(self, nid: str, node: Any) -> Flow:
        number = self.variables.get(node.variable, "")
        contact = (yield LookupCaller(number)) if number else None
        ctype = "unknown" if not contact else str(contact.get("type") or "other")
        if ctype not in CONTACT_TYPES:
            ctype = "other"
        for k, v in (contact or {}).items():
            if v is not None and not isinstance(v, (dict, list)):
                self.variables[f"contact_{k}"] = str(v)
        self.variables["contact_type"] = ctype  # normalised, after the raw fields
        if node.preferred_agent and contact and contact.get("preferred_agent"):
            self._preferred_agent = str(contact["preferred_agent"])
        self.path.append({"node": nid, "input": "lookup", "contact_type": ctype})
        return node.branches.get(ctype, node.default)

    # ---- speech ----
    def _grammar(self, phrases: dict[str, Phrases | None]) -> dict[str, tuple[str, ...]]:
        """{intent: phrases in the current language} + the adverse-event phrases."""
        out = {name: tuple(p.get(self.language, ())) for name, p in phrases.items() if p}
        safety = tuple((self.plan.policy.safety_phrases or {}).get(self.language, ()))
        if safety:
            out[ADVERSE_INTENT] = safety
        return {k: v for k, v in out.items() if v}

    @staticmethod
    def _heard(result: SpeechInput | str | None) -> SpeechInput:
        if not isinstance(result, SpeechInput):  # no speech model: a key or nothing
            return SpeechInput(key=result or None)
        conf = result.confidence
        if not isinstance(conf, (int, float)) or not math.isfinite(conf):
            conf = 0.0
        return SpeechInput(result.key or None, result.text or "", min(max(float(conf), 0.0), 1.0),
                           result.intent or None, tuple(result.candidates or ()))

    def _adverse(self, nid: str, heard: SpeechInput, **entry: Any) -> bool:
        """The safety key, or an adverse-event phrase anywhere in what was heard."""
        if heard.key == self.plan.policy.safety_key:
            self.path.append({"node": nid, "input": "safety", "key": heard.key})
            self.route_kind = "dtmf"
            return True
        if heard.intent == ADVERSE_INTENT or ADVERSE_INTENT in heard.candidates:
            self.path.append({"node": nid, **entry, "text": heard.text,
                              "confidence": heard.confidence, "intent": ADVERSE_INTENT,
                              "outcome": "route"})
            self._set_speech(heard, ADVERSE_INTENT, "routed")
            self.route_kind = "speech"
            return True
        return False

    def _set_speech(self, heard: SpeechInput, intent: str | None, outcome: str) -> None:
        self.speech = {"text": heard.text, "confidence": heard.confidence, "intent": intent,
                       "outcome": outcome}

    def _node_speech(self, nid: str, node: SpeechNode) -> Flow:
        pol = self.plan.policy
        high, low = speech_bands(self.plan, node)
        grammar = self._grammar({name: i.phrases for name, i in node.intents.items()})
        keys = frozenset(node.options) | {pol.safety_key}
        yes, no = yes_no(self.plan, node)
        confirm_grammar = self._grammar({"yes": yes, "no": no})
        attempts = node.retries
        first = self._ids(nid, "prompt")
        prompts = first
        for attempt in range(1, attempts + 1):
            heard = self._heard((yield Listen(prompts, keys, grammar, node.no_speech_timeout,
                                              node.max_utterance, nid)))
            if self._adverse(nid, heard, input="speech"):
                raise _Jump(pol.safety_route)
            if heard.key is not None:
                if heard.key in node.options:
                    self.path.append({"node": nid, "input": "key", "key": heard.key})
                    self.route_kind = "dtmf"
                    return node.options[heard.key]
                self.path.append({"node": nid, "input": "invalid", "key": heard.key})
                prompts = self._reask_prompts(nid, "invalid_prompt")
                continue
            known = heard.intent if heard.intent in node.intents else None
            d = decide(SpeechInput(text=heard.text, confidence=heard.confidence, intent=known),
                       high, low, attempt=attempt, max_attempts=attempts,
                       adverse_intent=ADVERSE_INTENT)
            outcome = d.outcome
            if outcome is Outcome.CONFIRM and not node.confirm_prompt:
                # no way to ask "is that right?": never route on a guess
                outcome = Outcome.HUMAN if attempt >= attempts else Outcome.REASK
            self.path.append({"node": nid, "input": "speech", "text": heard.text,
                              "confidence": heard.confidence, "intent": known,
                              "outcome": outcome.value})
            self._set_speech(heard, known, SPEECH_OUTCOMES[outcome])
            if outcome is Outcome.ROUTE:
                assert d.intent is not None
                self.route_kind = "speech"
                return node.intents[d.intent].next
            if outcome is Outcome.CONFIRM:
                assert d.intent is not None
                answer = yield from self._confirm(nid, node, d.intent, confirm_grammar, low)
                if answer == "yes":
                    self._set_speech(heard, d.intent, "confirmed")
                    self.route_kind = "speech"
                    return node.intents[d.intent].next
                if answer not in ("no", "none"):  # a node option pressed instead
                    self.path.append({"node": nid, "input": "key", "key": answer})
                    self.route_kind = "dtmf"
                    return node.options[answer]
                outcome = Outcome.HUMAN if attempt >= attempts else Outcome.REASK
                self._set_speech(heard, d.intent, SPEECH_OUTCOMES[outcome])
            if outcome is Outcome.HUMAN:
                break
            prompts = self._reask_prompts(nid, "no_input_prompt" if not heard.text
                                          else "invalid_prompt")
        return self._fallback(nid, node.on_fail)

    def _reask_prompts(self, nid: str, policy_field: str) -> tuple[str, ...]:
        """The node's reask prompt (which should repeat the choices), else the
        policy's invalid / no-input prompt followed by the question again."""
        own = self._ids(nid, "reask_prompt")
        if own:
            return own
        pol = (f"{self.language}/{POLICY_PROMPTS[policy_field]}",) \
            if getattr(self.plan.policy, policy_field) else ()
        return pol + self._ids(nid, "prompt")

    def _confirm(self, nid: str, node: SpeechNode, intent: str,
                 grammar: dict[str, tuple[str, ...]], low: float) -> Generator[Instruction, Any, str]:
        """"You said X, is that right?" -> "yes" | "no" | "none" | a node option key.
        Keys: 1 = yes, 2 = no; the node's other options and the safety key still work."""
        keys = frozenset(node.options) | {"1", "2", self.plan.policy.safety_key}
        prompts = (f"{self.language}/{node.confirm_id(nid, intent)}",)
        heard = self._heard((yield Listen(prompts, keys, grammar, node.no_speech_timeout,
                                          node.max_utterance, nid)))
        if self._adverse(nid, heard, input="confirm"):
            raise _Jump(self.plan.policy.safety_route)
        answer = "none"
        if heard.key == "1":
            answer = "yes"
        elif heard.key == "2":
            answer = "no"
        elif heard.key is not None and heard.key in node.options:
            answer = heard.key
        elif heard.key is None and heard.intent in ("yes", "no") and heard.confidence >= low:
            answer = heard.intent
        entry: dict[str, Any] = {"node": nid, "input": "confirm", "intent": intent,
                                 "answer": answer if answer in ("yes", "no") else "none"}
        if heard.key is not None:
            entry["key"] = heard.key
        else:
            entry.update(text=heard.text, confidence=heard.confidence)
        self.path.append(entry)
        return answer
