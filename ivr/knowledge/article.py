"""A knowledge-base article: Markdown with YAML front matter, parsed and checked (pure).

    ---
    title: How to store Dolorex tablets
    product: dolorex
    language: en               # fr | en | zh
    tags: [storage, temperature]
    intents: [product-info]    # optional: IVR intents this article answers (screen-pop)
    id: dolorex-storage        # optional: stays the same when the file is renamed
    ---
    Keep the tablets below 25 °C…

The adapter reads the file and hands its text and name here; every problem comes back with
the line to fix, and nothing raises for a bad file. The body is rendered to HTML by
markdown-it (raw HTML in the Markdown is not passed through) and sanitised again by nh3:
the text is written by admins and shown in agents' browsers.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import nh3
import yaml
from markdown_it import MarkdownIt

from ivr.dialplan.problems import Problem
from ivr.dialplan.source import Source, load_yaml

LANGUAGES = ("fr", "en", "zh")
REQUIRED_FIELDS = ("title", "product", "language", "tags")
OPTIONAL_FIELDS = ("id", "intents")
FIELDS = REQUIRED_FIELDS + OPTIONAL_FIELDS
# Bumped when parsing, rendering or folding changes, so `ivr kb index` redoes every article
# (the index skips files whose hash it already holds).
INDEX_FORMAT = "kb-1"
_ID = re.compile(r"[a-z0-9][a-z0-9_.-]*(/[a-z0-9][a-z0-9_.-]*)*")
_FENCE = ("---",)
_FENCE_END = ("---", "...")
# libyaml when installed: the front matter of 10,000 articles parses in 2 s instead of 20 s.
_FAST_YAML = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_INLINE_TEXT = {"softbreak": " ", "hardbreak": "\n"}
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


@dataclass(frozen=True)
class Article:
    id: str
    file: str                          # as the adapter named it (for messages)
    name: str                          # its path in the knowledge folder
    title: str
    product: str
    language: str
    tags: tuple[str, ...]
    intents: tuple[str, ...]
    markdown: str                      # the body as written
    html: str                          # sanitised: safe to put in a page as is
    text: str                          # the body as plain text (index, snippets)
    content_hash: str
    id_line: int = field(default=1, compare=False)    # where the id is set (1: from the name)


@dataclass(frozen=True)
class Parsed:
    """One file's outcome: an article, or the problems that keep it out of the index."""
    file: str
    name: str                          # its path in the knowledge folder
    article: Article | None
    problems: tuple[Problem, ...]


def default_id(name: str) -> str:
    """The id of an article without `id:`: its path in the folder, without `.md`, as a slug
    ('Dolorex/Storage EN.md' -> 'dolorex/storage-en')."""
    stem = name[:-3] if name.lower().endswith(".md") else name
    parts = [re.sub(r"[^a-z0-9_.-]+", "-", p.lower()).strip("-.") for p in stem.split("/")]
    return "/".join(p for p in parts if p) or "article"


def content_hash(text: str) -> str:
    return hashlib.sha256(f"{INDEX_FORMAT}\n{text}".encode()).hexdigest()


def render_html(markdown: str) -> str:
    """Sanitised HTML of a Markdown body."""
    return _rendered(markdown)[0]


def plain_text(markdown: str) -> str:
    """The words of a Markdown body without its markup (what is indexed)."""
    return _rendered(markdown)[1]


def _rendered(markdown: str) -> tuple[str, str]:
    """(sanitised HTML, plain text) from one parse. nh3 after markdown-it: a link or image
    markdown-it lets through is still checked against nh3's allow-list (schemes,
    attributes, tags)."""
    tokens = _MARKDOWN.parse(markdown)
    html = nh3.clean(_MARKDOWN.renderer.render(tokens, _MARKDOWN.options, {}))
    parts: list[str] = []
    for token in tokens:
        if token.type == "inline":
            parts.append("".join(_INLINE_TEXT.get(c.type, c.content if c.type in ("text", "code_inline")
                                                   else "") for c in token.children or ()))
        elif token.type in ("fence", "code_block"):
            parts.append(token.content)
    return html, "\n".join(p for p in parts if p.strip())


def _split(text: str) -> tuple[str, int, int] | None:
    """(the front matter's YAML with line numbers as in the file, line of the closing fence,
    None if there is no closing fence -> -1); None if the file has no front matter."""
    lines = text.splitlines()
    if not lines or lines[0].rstrip() not in _FENCE:
        return None
    for number, line in enumerate(lines[1:], 2):
        if line.rstrip() in _FENCE_END:
            # a leading newline keeps the YAML's line numbers those of the file
            return "\n" + "\n".join(lines[1:number - 1]), number, len(lines)
    return "", -1, len(lines)


def parse_article(text: str, file: str, name: str | None = None,
                  known_intents: Collection[str] | None = None) -> Parsed:
    """Parse one article. `file` names it in messages; `name` is its path in the knowledge
    folder (default: `file`), which gives its id unless the front matter sets one.
    known_intents: the dialplan's intents (None: not checked)."""
    name = name or file
    text = text.removeprefix("\ufeff")
    split = _split(text)
    if split is None:
        return _broken(file, name, Problem(file, 1, 1, "no front matter: start the file with a `---` line, "
                                     "then title:, product:, language: and tags:, then `---`"))
    yaml_text, closing, n_lines = split
    if closing < 0:
        return _broken(file, name, Problem(file, 1, 1, "the front matter opened here is never closed: "
                                     "add a `---` line after its last field"))
    data, src, problems = load_yaml(yaml_text, file, _FAST_YAML)
    if problems and _FAST_YAML is not yaml.SafeLoader:     # its messages point best
        data, src, problems = load_yaml(yaml_text, file)
    if data is None and not problems:
        problems = [Problem(file, 1, 1, "empty front matter: add title:, product:, language: and tags:")]
    if problems:
        return _broken(file, name, *problems)
    if not isinstance(data, dict):
        return _broken(file, name, Problem(file, 2, 1, "the front matter must be `field: value` lines "
                                     f"({', '.join(REQUIRED_FIELDS)})"))
    fields, problems = _check_fields(data, src, file, known_intents)
    body = "\n".join(text.splitlines()[closing:])
    html, body_text = _rendered(body)
    if not body_text.strip():
        problems.append(Problem(file, min(closing + 1, n_lines), 1, "the article has no text after "
                                "its front matter: write the answer below the closing `---`"))
    if problems:
        return _broken(file, name, *problems)
    article_id = fields.get("id") or default_id(name)
    return Parsed(file, name, Article(
        id=article_id, file=file, name=name, title=fields["title"], product=fields["product"],
        language=fields["language"], tags=tuple(fields["tags"]),
        intents=tuple(fields.get("intents") or ()), markdown=body.strip("\n") + "\n",
        html=html, text=body_text,
        content_hash=content_hash(text),
        id_line=src.pos(("id",), key=True)[0] if "id" in fields else 1), ())


def _broken(file: str, name: str, *problems: Problem) -> Parsed:
    return Parsed(file, name, None, tuple(sorted(problems)))


def _check_fields(data: dict[str, Any], src: Source, file: str,
                  known_intents: Collection[str] | None) -> tuple[dict[str, Any], list[Problem]]:
    problems: list[Problem] = []
    out: dict[str, Any] = {}

    def bad(path: tuple[str | int, ...], message: str, key: bool = False) -> None:
        problems.append(src.problem(path, message, key=key))

    for key in data:
        if key not in FIELDS:
            bad((key,), f"unknown field {key!r}: the fields are {', '.join(FIELDS)}", key=True)
    missing = [f for f in REQUIRED_FIELDS if data.get(f) in (None, "")]
    if missing:
        problems.append(Problem(file, 1, 1, f"missing field{'s' * (len(missing) > 1)} "
                                f"{', '.join(missing)} in the front matter"))
    for name in ("title", "product"):
        value = data.get(name)
        if value not in (None, "") and not (isinstance(value, str) and value.strip()):
            bad((name,), f"{name} must be text, not {value!r}")
        elif isinstance(value, str):
            out[name] = value.strip()
    language = data.get("language")
    if language not in (None, ""):
        if language in LANGUAGES:
            out["language"] = language
        else:
            bad(("language",), f"unknown language {language!r}: use one of {', '.join(LANGUAGES)}")
    for name in ("tags", "intents"):
        if name in data and data[name] is not None:
            out[name] = _text_list(data[name], name, bad)
    if "tags" in data and data["tags"] is None:
        out["tags"] = []
    if "id" in data:
        value = data["id"]
        if isinstance(value, str) and _ID.fullmatch(value):
            out["id"] = value
        else:
            bad(("id",), f"id {value!r} must be lower-case letters, digits, '-', '_', '.' "
                "(and '/' between parts), e.g. dolorex-storage-en")
    if known_intents is not None:
        for i, intent in enumerate(out.get("intents", ())):
            if intent not in known_intents:
                bad(("intents", i), f"intent {intent!r} is not an intent of the dialplan: "
                    f"known intents are {', '.join(sorted(known_intents)) or 'none'}")
    return out, problems


def _text_list(value: Any, name: str, bad: Any) -> list[str]:
    if not isinstance(value, list):
        bad((name,), f"{name} must be a list, e.g. {name}: [{'storage, dosage' if name == 'tags' else 'order'}]")
        return []
    items = []
    for i, item in enumerate(value):
        if isinstance(item, str) and item.strip():
            items.append(item.strip())
        else:
            bad((name, i), f"{name}[{i}] must be non-empty text, not {item!r}")
    return items
