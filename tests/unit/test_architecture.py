"""The architecture, enforced: pure cores stay free of I/O and clocks, and no import circles.

Pure cores (the house style: events and `now` in, actions out) must not load the event loop,
sockets, threads or drivers, however indirectly: each is imported in a fresh interpreter and
what it loaded is inspected. pydantic, a vetted pure dependency of the models, itself loads
threading (a lock in pydantic.main) and socket/selectors (its plugin discovery reads
importlib.metadata, whose email.utils imports socket); those are excused only when the core
loaded pydantic, and only for what pydantic alone loads. Sources are also read: a core may not
name a forbidden module or reach an adapter even in a function body, where the import test
cannot see it, nor read a clock.
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ivr", "acd")

FORBIDDEN = {"asyncio", "socket", "threading", "selectors", "sqlite3",          # I/O, threads
             "vosk", "psycopg", "aiosqlite", "aiomqtt", "panoramisk", "pydub"}  # drivers
DRIVERS = {"vosk", "psycopg", "aiosqlite", "aiomqtt", "panoramisk", "pydub"}
# vetted pure dependency → what to run so it loads everything it will load
VETTED = {"pydantic": "import pydantic\nclass _M(pydantic.BaseModel):\n    x: int = 0\n",
          # markdown-it logs through `logging`, which loads threading (its module lock)
          "markdown_it": "import markdown_it\nmarkdown_it.MarkdownIt().render('*x*')\n",
          # phonenumbers' lazy metadata loading takes a lock (threading)
          "phonenumbers": "import phonenumbers\nfrom phonenumbers import timezone\n"
                          "timezone.time_zones_for_number(phonenumbers.parse('+4930123456'))\n"}

CORE_PACKAGES = ("acd", "ivr.dialplan", "ivr.cases", "ivr.outbound")  # outbound: issue 15
CORE_MODULES = ("ivr.telephony.agi.protocol", "ivr.speech.confidence", "ivr.speech.breaker",
                "ivr.call.flow",        # the sans-IO call core (issue 12, item 1)
                "ivr.call.commands",    # what the call core returns
                "ivr.crm.records",      # the call record the call core owns
                "ivr.desk.call_view",   # what the agent's call panel shows
                "ivr.channels.mail_rules",  # e-mail: loops, threads, throttling, safety phrases
                "ivr.channels.chat_rules",  # web chat/form: sizes, rates, fallbacks
                "ivr.channels.channel_report",  # `ivr report --by channel` figures
                "ivr.channels.sms_rules",  # SMS: hand-over parsing, body limits, webhook HMAC
                "ivr.channels.fax_rules",  # fax: ReceiveFAX's outcome, what the task says
                "ivr.channels.voicemail_rules",  # voice messages: file names, due time, text
                "ivr.desk.case_forms",  # what the case and contact pages show and send
                # the knowledge base's rules: parsing and checking articles, folding text
                # for the full-text index, what an index run changes, suggestion order
                "ivr.knowledge.folding", "ivr.knowledge.article", "ivr.knowledge.checks",
                "ivr.knowledge.indexing", "ivr.knowledge.suggest",
                # planning (issue 17): the math; history.py and holt_winters.py are adapters
                "ivr.planning.profiles", "ivr.planning.intraday", "ivr.planning.forecast",
                "ivr.planning.replay", "ivr.planning.mix", "ivr.planning.chart",
                "ivr.planning.synthetic",
                "ivr.crm.case_reports",  # case figures and the safety export rows
                "ivr.desk.policy",      # the desk's rules: roles, session expiry, throttling
                "ivr.desk.i18n",        # the desk's texts
                "ivr.cluster.leadership",  # who routes: active, standby, stepped down (issue 16)
                "ivr.sites.settings", "ivr.sites.rules", "ivr.sites.dialing",
                "ivr.sites.outage")  # several sites, one ACD (issue 16)
CLOCK_READS = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"),
               ("date", "today"), ("time", "time"), ("time", "time_ns"), ("time", "monotonic"),
               ("time", "monotonic_ns"), ("time", "perf_counter"), ("time", "perf_counter_ns")}


# ---- the module graph (read from the sources, imports inside functions included) ----------

def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def sources() -> dict[str, Path]:
    found = {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    return found


def _is_package(name: str) -> bool:
    return sources()[name].name == "__init__.py"


def imported_names(name: str) -> set[str]:
    """Every module `name` imports, at any depth of its code, as absolute names."""
    return imports_in(sources()[name].read_text(encoding="utf-8"), name, _is_package(name))


def imports_in(text: str, name: str, is_package: bool = False) -> set[str]:
    package = name if is_package else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = parts[: len(parts) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import sub` imports the submodule pkg.sub when there is one
            out.update(f"{base}.{a.name}" if f"{base}.{a.name}" in sources() else base
                       for a in node.names)
    return out


def clock_reads(text: str) -> set[str]:
    """`datetime.now`, `time.monotonic`… and `from time import …` in a source."""
    tree = ast.parse(text)
    found = {f"{node.value.id}.{node.attr}" for node in ast.walk(tree)
             if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
             and (node.value.id, node.attr) in CLOCK_READS}
    return found | {f"time.{a.name}" for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom) and node.module == "time"
                    for a in node.names}


@cache
def graph() -> dict[str, set[str]]:
    """Module → the product modules it imports (the lab left out)."""
    return {name: {m for m in imported_names(name) if m in sources() and m != name}
            for name in sources()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One circle per strongly connected component (Tarjan), as a path back to its start."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1 or v in edges[v]:
                components.append(component)

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return [_circle_in(c, edges) for c in components]


def _circle_in(component: set[str], edges: dict[str, set[str]]) -> list[str]:
    """A shortest path from the component's first module back to itself (breadth first)."""
    start = min(component)
    paths = {start: [start]}
    todo = [start]
    while todo:
        v = todo.pop(0)
        for w in sorted(edges[v] & component):
            if w == start:
                return paths[v] + [start]
            if w not in paths:
                paths[w] = paths[v] + [w]
                todo.append(w)
    raise AssertionError(f"no circle in component {component}")  # pragma: no cover


def core_modules() -> list[str]:
    names = [m for m in sources() if m.startswith(tuple(f"{p}." for p in CORE_PACKAGES))
             or m in CORE_PACKAGES]
    return sorted(names) + list(CORE_MODULES)


def is_core(name: str) -> bool:
    """A pure core, or a package on the way to one (its __init__ runs on import)."""
    return any(m == name or m.startswith(name + ".") for m in core_modules())


# ---- (a) the pure cores, imported in a fresh interpreter --------------------------------

@cache
def loaded_by(code: str) -> frozenset[str]:
    """The modules a fresh interpreter has loaded after running `code` from the project root."""
    probe = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    run = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    if run.returncode:
        pytest.fail(f"running {code!r} in a fresh interpreter failed:\n{run.stderr[-2000:]}")
    return frozenset(json.loads(run.stdout.splitlines()[-1]))


def existing_cores() -> list[str]:
    return [m for m in core_modules() if m in sources()]


def test_every_core_of_the_contract_exists() -> None:
    missing = [m for m in core_modules() if m not in sources()]
    assert not missing, (f"pure cores named by the contract are missing: {', '.join(missing)} "
                         "(ivr.call.flow and ivr.call.commands: the sans-IO call core of issue 12)")


@pytest.mark.parametrize("core", existing_cores())
def test_pure_core_loads_no_io_threads_or_drivers(core: str) -> None:
    loaded = loaded_by(f"import {core}")
    excused = set().union(*(loaded_by(code) for dep, code in VETTED.items() if dep in loaded))
    leaks = {m for m in FORBIDDEN & loaded if m in DRIVERS or m not in excused}
    assert not leaks, (f"importing the pure core {core} loads {sorted(leaks)}; find who imports "
                       f"them (python -X importtime -c 'import {core}') and move that code to "
                       "an adapter, or pass what it needs in")


@pytest.mark.parametrize("core", existing_cores())
def test_pure_core_source_names_no_adapter_forbidden_module_or_clock(core: str) -> None:
    """What the import test cannot see: imports in function bodies, modules that pydantic
    happened to load already, and clocks (time is passed in: `now`)."""
    named = imported_names(core)
    forbidden = {m for m in named if m.split(".")[0] in FORBIDDEN}
    adapters = {m for m in named if m in sources() and not is_core(m)}
    clocks = clock_reads(sources()[core].read_text(encoding="utf-8"))
    assert not forbidden, f"pure core {core} imports {sorted(forbidden)}"
    assert not adapters, (f"pure core {core} imports {sorted(adapters)}, which are not pure "
                          "cores: depend on a core, or have the adapter pass the result in")
    assert not clocks, (f"pure core {core} reads the clock ({', '.join(sorted(clocks))}): "
                        "take `now` as an argument instead")


def test_the_contract_sees_leaks() -> None:
    """The checks above must be able to fail: an adapter loads the event loop, a lazy
    import is seen, a clock read is seen."""
    assert "asyncio" in loaded_by("import ivr.telephony.agi.server")
    lazy = "def f():\n    import asyncio\n    from . import walker\n    from .model import Plan\n"
    assert imports_in(lazy, "ivr.dialplan.x") == {"asyncio", "ivr.dialplan.walker",
                                                  "ivr.dialplan.model"}
    assert not is_core("ivr.speech.recognizer") and is_core("ivr.speech")
    assert clock_reads("from time import monotonic\nt = datetime.now(UTC)\n") == {
        "time.monotonic", "datetime.now"}
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


# ---- (b) no import circle anywhere in the product ----------------------------------------

def test_no_import_circles() -> None:
    found = cycles(graph())
    assert not found, "import circles (imports inside functions count):\n" + "\n".join(
        "  " + " → ".join(circle) for circle in found)


def test_the_running_engine_does_not_import_the_tools() -> None:
    """ivr.cli holds the command-line tools (prompt building, checks); the engine's modules
    must not need them."""
    uses = {f"{m} → {d}" for m, deps in graph().items() if not m.startswith("ivr.cli")
            and m != "ivr.__main__" for d in deps if d.startswith("ivr.cli")}
    assert not uses, "engine modules import the CLI tools: " + ", ".join(sorted(uses))
