"""Static checks of a plan: integrity (run by the loader) and policy rules.

Pure: a parsed plan (and a Catalog of what exists) in, problems out. Reading plan files is
the loader's job (loader.check_paths, loader.load_checked).

Rules enforced by `check_plan` (errors unless said otherwise):
* every menu offers `policy.human_key` leading straight to a person, unless it
  carries `human_exit_waiver: "<reason>"`;
* no path from `start` crosses more than `max_menu_depth` menus;
* menu retries <= `max_retries` (then the walker goes to `policy.human_route`);
* no cycle without a human exit, no dead end (a node with nowhere to go);
* unreachable nodes (warning); queues / skills / agents exist;
* every prompt has a text (or, with `prompt_files`, a recording) in every language;
* the safety key is only defined in the policy, never reused as an option;
* policy.survey_safety_key (default "*") is no answer key of a survey question
  (its scale's digits, its terminator);
* survey questions with `speech: true`: spoken score words exist in every plan language
  (unknown to the speech model: warning); the plan then needs policy.safety_phrases;
* speech nodes: the human key rule as for menus (also counted as menu levels and
  as human exits of cycles); every declared language has phrases for every
  intent, for policy.safety_phrases and (with a confirm_prompt) for yes/no;
  low <= high; with `Catalog.unknown_words`, each phrase holding words the
  speech model does not know (warning, at the phrase).
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from . import expr
from .model import (HUMAN_TYPES, SURVEY_KEYS, CollectNode, LanguageNode, MenuNode, Phrases, Plan,
                    SpeechNode, all_prompts, field_alias, speech_bands, yes_no)
from .problems import Problem
from .source import Source
from .survey_words import languages as survey_languages
from .survey_words import score_grammar, words_for

PromptFiles = Callable[[str, str], bool] | set[str]


@dataclass
class Catalog:
    """What the plan may refer to. `None` means "not known, don't check"."""

    queues: set[str] | None = None
    skills: set[str] | None = None
    agents: set[str] | None = None
    # (lang, prompt id) -> exists, or a set of "lang/id" strings
    prompt_files: PromptFiles | None = None
    # organisation-wide ceilings the plan's policy may not exceed
    max_menu_depth: int | None = None
    max_retries: int | None = None
    # phrases -> the words the speech model does not know (SpeechModel.unknown_words);
    # or {language: hook} when each language has its own model (others unchecked)
    unknown_words: (Callable[[list[str]], list[str]]
                    | dict[str, Callable[[list[str]], list[str]]] | None) = None

    def has_prompt(self, lang: str, pid: str) -> bool | None:
        pf = self.prompt_files
        if pf is None:
            return None
        return f"{lang}/{pid}" in pf if isinstance(pf, set) else pf(lang, pid)

    def unknown_in(self, lang: str, phrase: str) -> list[str]:
        hook = self.unknown_words
        if isinstance(hook, dict):
            hook = hook.get(lang)
        return list(hook([phrase])) if hook is not None else []


def _src(plan: Plan) -> Source:
    return plan.source or Source("<plan>")


def _node_problem(src: Source, nid: str, msg: str, *fieldpath: str | int,
                  severity: str = "error", key: bool = False) -> Problem:
    if not fieldpath:
        return src.problem(("nodes", nid), msg, key=True, severity=severity)
    return src.problem(("nodes", nid, *fieldpath), msg, key=key, severity=severity)


def edges(plan: Plan, nid: str) -> list[str]:
    node = plan.nodes.get(nid)
    return [] if node is None else [t for _, t in node.targets() if t in plan.nodes]


def leads_to_person(plan: Plan, nid: str, seen: frozenset[str] = frozenset()) -> bool:
    """True if every non-interactive path from `nid` reaches a route/transfer
    (say/hours/lookup/condition are followed; menus, collects, hangups fail)."""
    node = plan.nodes.get(nid)
    if node is None or nid in seen:
        return False
    if node.type in HUMAN_TYPES:
        return True
    if node.type not in ("say", "hours", "lookup", "condition"):
        return False
    nxt = [t for _, t in node.targets()]
    return bool(nxt) and all(leads_to_person(plan, t, seen | {nid}) for t in nxt)


MENU_TYPES = ("menu", "speech")  # nodes offering choices: human key, depth, cycle exits


def _offers_human(plan: Plan, node: MenuNode | SpeechNode) -> bool:
    t = node.options.get(plan.policy.human_key)
    return t is not None and leads_to_person(plan, t)


# ---- integrity: what the walker needs -----------------------------------------

def integrity(plan: Plan) -> list[Problem]:
    src, pol, out = _src(plan), plan.policy, []
    ref = lambda path, t: out.append(src.problem(path, f"unknown node {t!r}"))  # noqa: E731
    if plan.start not in plan.nodes:
        ref(("start",), plan.start)
    for f in ("human_route", "safety_route"):
        t = getattr(pol, f)
        if t not in plan.nodes:
            ref(("policy", f), t)
        elif not leads_to_person(plan, t):
            out.append(src.problem(("policy", f), f"{f} {t!r} must lead to a person "
                                   "(route/transfer) without asking the caller anything"))
    if pol.human_key == pol.safety_key:
        out.append(src.problem(("policy", "safety_key"), "safety_key equals human_key"))
    for nid, node in plan.nodes.items():
        for path, t in node.targets():
            if t not in plan.nodes:
                path = (field_alias(node, path[0]), *path[1:])
                ref(("nodes", nid, *path), t)
        if isinstance(node, (MenuNode, LanguageNode, SpeechNode)) and pol.safety_key in node.options:
            out.append(_node_problem(
                src, nid, f"key {pol.safety_key!r} is the safety key (policy.safety_key); "
                "it works from every menu and cannot be reused as an option",
                "options", pol.safety_key, key=True))
        if isinstance(node, LanguageNode):
            for k, lang in node.options.items():
                if lang not in plan.languages:
                    out.append(_node_problem(src, nid, f"language {lang!r} is not declared "
                                             f"in languages {plan.languages}", "options", k))
    out += _survey_integrity(plan, src)
    out += _survey_safety_key(plan, src)
    seen: dict[str, tuple] = {}
    for pid, texts, path in all_prompts(plan):
        for lang in texts:
            if lang not in plan.languages:
                out.append(src.problem(path + (lang,), f"prompt {pid!r}: language {lang!r} "
                                       "is not declared", key=True, severity="warning"))
        if pid in seen:
            out.append(src.problem(path, f"prompt id {pid!r} also used by "
                                   f"{'.'.join(map(str, seen[pid]))}"))
        seen[pid] = path
    return out


def survey_nodes(plan: Plan) -> list[str]:
    """The nodes of the post-call survey: those reachable from `post_call_survey`."""
    todo, seen = [plan.post_call_survey], []
    while todo:
        n = todo.pop()
        if n is not None and n in plan.nodes and n not in seen:
            seen.append(n)
            todo.extend(edges(plan, n))
    return seen


def _survey_integrity(plan: Plan, src: Source) -> list[Problem]:
    """The post-call survey runs after the agent hung up: no way to a person left in it, and
    something must lead a caller to it (and it to them)."""
    out: list[Problem] = []
    opt_ins = [nid for nid, n in plan.nodes.items() if getattr(n, "survey_opt_in", False)]
    first = plan.post_call_survey
    if first is None:
        out += [_node_problem(src, nid, "survey_opt_in, but the plan has no post_call_survey: "
                              "name the survey's first node at the top of the plan",
                              "survey_opt_in") for nid in opt_ins]
        return out
    if first not in plan.nodes:
        return [src.problem(("post_call_survey",), f"unknown node {first!r}")]
    if not opt_ins:
        out.append(src.problem(("post_call_survey",), "no node has `survey_opt_in: true`: no "
                               "caller can opt in to this survey", severity="warning"))
    nodes = survey_nodes(plan)
    if not any(getattr(plan.nodes[n], "survey", None) for n in nodes):
        out.append(src.problem(("post_call_survey",), f"the survey from {first!r} asks no "
                               "question: give a collect node `survey: csat` or `survey: nps`"))
    for nid in nodes:
        node = plan.nodes[nid]
        if node.type in HUMAN_TYPES:
            out.append(_node_problem(src, nid, f"the post-call survey leads to {node.type} node "
                                     f"{nid!r}, but the agent has hung up: end the survey with "
                                     "a hangup node", "type"))
        elif node.type == "collect" and node.on_invalid is None:  # type: ignore[union-attr]
            out.append(_node_problem(src, nid, f"survey question {nid!r} has no on_invalid: an "
                                     "invalid answer would go to policy.human_route after the "
                                     "agent hung up; point it at the survey's goodbye",
                                     "type"))
    return out


def _survey_safety_key(plan: Plan, src: Source) -> list[Problem]:
    """A survey's safety key must never be a key of an answer: a caller reporting a side
    effect would be read as a score (and never reach pharmacovigilance)."""
    key = plan.policy.survey_safety_key
    out = []
    for nid, node in plan.nodes.items():
        if not isinstance(node, CollectNode) or node.survey is None:
            continue
        # the scale's keys, and any a node's own pattern accepts as a whole answer
        scored = key in SURVEY_KEYS[node.survey] or bool(node.pattern and re.search(node.pattern, key))
        if scored or key == node.terminator:
            what = f"a {node.survey} score key" if scored else "the answer's terminator"
            out.append(_node_problem(
                src, nid, f"policy.survey_safety_key {key!r} is {what} in survey question {nid!r}: "
                "a side effect reported with it would be read as an answer; set "
                "policy.survey_safety_key to a key no answer uses (default \"*\")", "survey"))
    return out


# ---- policy rules -------------------------------------------------------------

def _sccs(plan: Plan) -> list[list[str]]:
    """Tarjan's strongly connected components (iterative-free: plans are small)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges(plan, v):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(comp)

    for v in plan.nodes:
        if v not in index:
            visit(v)
    return out


def _depth(plan: Plan, src: Source, limit: int) -> list[Problem]:
    out: list[Problem] = []
    reported: set[str] = set()
    seen: set[tuple[str, int]] = set()

    def walk(nid: str, depth: int, trail: tuple[str, ...]) -> None:
        node = plan.nodes.get(nid)
        if node is None or (nid, depth) in seen or nid in trail or node.type in HUMAN_TYPES:
            return
        seen.add((nid, depth))
        if node.type in MENU_TYPES:
            depth += 1
            if depth > limit:
                if nid not in reported:
                    reported.add(nid)
                    menus = [n for n in (*trail, nid) if plan.nodes[n].type in MENU_TYPES]
                    out.append(_node_problem(src, nid, f"menu depth {depth} exceeds "
                                             f"max_menu_depth {limit}: {' > '.join(menus)}"))
                return
        for t in edges(plan, nid):
            walk(t, depth, trail + (nid,))

    walk(plan.start, 0, ())
    return out


def _reachable(plan: Plan) -> set[str]:
    todo = [plan.start, plan.policy.human_route, plan.policy.safety_route]
    if plan.post_call_survey is not None:
        todo.append(plan.post_call_survey)
    seen: set[str] = set()
    while todo:
        n = todo.pop()
        if n in plan.nodes and n not in seen:
            seen.add(n)
            todo.extend(edges(plan, n))
    return seen


def rules(plan: Plan, catalog: Catalog) -> list[Problem]:
    src, pol, out = _src(plan), plan.policy, []
    hk = pol.human_key
    for f, ceiling in (("max_menu_depth", catalog.max_menu_depth),
                       ("max_retries", catalog.max_retries)):
        if ceiling is not None and getattr(pol, f) > ceiling:
            out.append(src.problem(("policy", f), f"{f} {getattr(pol, f)} exceeds the "
                                   f"organisation limit {ceiling}"))
    for nid, node in plan.nodes.items():
        if isinstance(node, (MenuNode, SpeechNode)):
            if node.human_exit_waiver is None:
                if hk not in node.options:
                    out.append(_node_problem(src, nid, f"{node.type} {nid!r} offers no way to a "
                                             f"person: add key {hk!r} or a human_exit_waiver",
                                             "options"))
                elif not _offers_human(plan, node):
                    out.append(_node_problem(src, nid, f"key {hk!r} of {node.type} {nid!r} does "
                                             "not lead to a person (route/transfer)", "options", hk))
            if node.on_fail and node.on_fail in plan.nodes and not leads_to_person(plan, node.on_fail):
                out.append(_node_problem(src, nid, f"on_fail {node.on_fail!r} must lead to a "
                                         "person (route/transfer)", "on_fail"))
            if node.retries is not None and node.retries > pol.max_retries:
                out.append(_node_problem(src, nid, f"retries {node.retries} exceeds "
                                         f"max_retries {pol.max_retries}", "retries"))
            if isinstance(node, SpeechNode):
                out += _speech_rules(plan, src, nid, node, catalog)
        elif node.type in ("collect", "language") and node.retries > pol.max_retries:  # type: ignore[union-attr]
            out.append(_node_problem(src, nid, f"retries {node.retries} exceeds "  # type: ignore[union-attr]
                                     f"max_retries {pol.max_retries}", "retries"))
        if node.type in ("say", "collect", "language") and node.next is None:  # type: ignore[union-attr]
            out.append(_node_problem(src, nid, f"dead end: {node.type} node {nid!r} has no "
                                     "'next' (end with a route, transfer or hangup)"))
        if node.type == "route":
            if catalog.queues is not None and node.queue not in catalog.queues:
                out.append(_node_problem(src, nid, f"unknown queue {node.queue!r}", "queue"))
            if catalog.agents is not None and node.agent and node.agent not in catalog.agents:
                out.append(_node_problem(src, nid, f"unknown agent {node.agent!r}", "agent"))
            if catalog.skills is not None and node.required:
                names: set[str] = set()
                for lang in plan.languages:
                    names |= expr.skill_names(node.required, lang)
                for s in sorted(names - catalog.skills):
                    out.append(_node_problem(src, nid, f"unknown skill {s!r}", "required"))
    for comp in _sccs(plan):
        if len(comp) == 1 and comp[0] not in edges(plan, comp[0]):
            continue
        exits = [n for n in comp if isinstance(plan.nodes[n], (MenuNode, SpeechNode))
                 and _offers_human(plan, plan.nodes[n])]  # type: ignore[arg-type]
        if not exits:
            order = [n for n in plan.nodes if n in comp]
            out.append(_node_problem(src, order[0], "cycle without a way to a person: "
                                     + " > ".join(order + [order[0]])))
    spoken = [nid for nid, n in plan.nodes.items() if isinstance(n, CollectNode) and n.speech]
    if spoken or any(isinstance(n, SpeechNode) for n in plan.nodes.values()):
        out += _safety_phrase_rules(plan, src, catalog)
    for nid in spoken:
        out += _spoken_score_rules(plan, src, nid, plan.nodes[nid], catalog)  # type: ignore[arg-type]
    out += _depth(plan, src, pol.max_menu_depth)
    reach = _reachable(plan)
    for nid in plan.nodes:
        if nid not in reach:
            out.append(_node_problem(src, nid, f"node {nid!r} is unreachable",
                                     severity="warning"))
    for pid, texts, path in all_prompts(plan):
        for lang in plan.languages:
            # a studio recording may stand in for the text; else we need text to synthesize
            if lang not in texts and not catalog.has_prompt(lang, pid):
                out.append(src.problem(path, f"prompt {pid!r} has no {lang!r} text"
                                       + ("" if catalog.prompt_files is None else
                                          f" and no recording {lang}/{pid}.wav")))
    return out


def _phrase_problems(plan: Plan, src: Source, phrases: Phrases, path: tuple, what: str,
                     catalog: Catalog, *, languages: bool = True) -> list[Problem]:
    """Missing languages (error, at `path`) and unknown words (warning, at the phrase)."""
    out: list[Problem] = []
    for lang in plan.languages if languages else ():
        if not phrases.get(lang):
            out.append(src.problem(path, f"{what} has no {lang!r} phrases", key=True))
    for lang, ps in phrases.items():
        if lang not in plan.languages:
            if languages:
                out.append(src.problem(path + (lang,), f"{what}: language {lang!r} is not "
                                       "declared", key=True, severity="warning"))
            continue
        for i, phrase in enumerate(ps):
            unknown = catalog.unknown_in(lang, phrase)
            if unknown:
                out.append(src.problem(path + (lang, i), f"phrase {phrase!r} has words the "
                                       f"speech model does not know: {', '.join(unknown)} "
                                       "(vosk would ignore them)", severity="warning"))
    return out


def _speech_rules(plan: Plan, src: Source, nid: str, node: SpeechNode,
                  catalog: Catalog) -> list[Problem]:
    out: list[Problem] = []
    high, low = speech_bands(plan, node)
    if low > high:
        out.append(_node_problem(src, nid, f"low {low} is greater than high {high} "
                                 "(policy speech_low/speech_high fill in what the node omits)",
                                 "low" if node.low is not None else "high"))
    for name, intent in node.intents.items():
        out += _phrase_problems(plan, src, intent.phrases, ("nodes", nid, "intents", name, "phrases"),
                                f"intent {name!r} of speech node {nid!r}", catalog)
    if low >= high:
        return out  # no confirmation band
    if not node.confirm_prompt:
        out.append(_node_problem(src, nid, f"speech node {nid!r} has no confirm_prompt: "
                                 f"answers with confidence in [{low}, {high}) are re-asked",
                                 severity="warning"))
        return out
    for word, phrases in zip(("yes", "no"), yes_no(plan, node)):
        if getattr(node, word) is not None:
            out += _phrase_problems(plan, src, phrases, ("nodes", nid, word),
                                    f"{word!r} of speech node {nid!r}", catalog)
        elif phrases:  # policy default; unknown words are reported once, at the policy
            out += _phrase_problems(plan, src, phrases, ("policy", word),
                                    f"policy {word!r} (speech confirmations)", Catalog())
        else:
            out.append(_node_problem(src, nid, f"speech node {nid!r} asks for confirmation but "
                                     f"has no {word!r} phrases (node {word}: or policy.{word})",
                                     "confirm_prompt", key=True))
    return out


def _spoken_score_rules(plan: Plan, src: Source, nid: str, node: CollectNode,
                        catalog: Catalog) -> list[Problem]:
    """A survey question taking speech: every plan language has its score words (built in,
    survey_words.py), which the speech model should know."""
    out: list[Problem] = []
    for lang in plan.languages:
        grammar = score_grammar(node.survey or "", lang)
        if not grammar:
            out.append(_node_problem(src, nid, f"survey question {nid!r} takes speech, but spoken "
                                     f"scores are not known in {lang!r} (known: "
                                     f"{', '.join(sorted(survey_languages()))}): remove "
                                     "`speech: true` or the language", "speech"))
            continue
        unknown = sorted({w for p in words_for(grammar) for w in catalog.unknown_in(lang, p)})
        if unknown:
            out.append(_node_problem(src, nid, f"spoken scores of {nid!r} in {lang!r} have words "
                                     f"the speech model does not know: {', '.join(unknown)} "
                                     "(those answers must be keyed)", "speech", severity="warning"))
    return out


def _safety_phrase_rules(plan: Plan, src: Source, catalog: Catalog) -> list[Problem]:
    pol = plan.policy
    if not pol.safety_phrases:
        return [src.problem(("policy",), "plan has speech nodes but no policy.safety_phrases: "
                            "callers could not report an adverse event by voice", key=True)]
    out = _phrase_problems(plan, src, pol.safety_phrases, ("policy", "safety_phrases"),
                           "policy.safety_phrases (adverse events, said in every speech node)",
                           catalog)
    for word in ("yes", "no"):  # missing languages: reported per speech node that uses them
        out += _phrase_problems(plan, src, getattr(pol, word) or {}, ("policy", word),
                                f"policy {word!r}", catalog, languages=False)
    return out


def check_plan(plan: Plan, catalog: Catalog | None = None) -> list[Problem]:
    """All problems (errors and warnings), sorted by position."""
    return sorted(set(integrity(plan) + rules(plan, catalog or Catalog())))

