"""Knowledge-base articles: front matter, fields, body, ids and intents, each problem at its
line; the HTML agents see is sanitised."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from ivr.dialplan.loader import load_plan
from ivr.knowledge.article import content_hash, default_id, parse_article
from ivr.knowledge.checks import ArticleFile, check_articles, plan_intents, problems_of
from ivr.knowledge.files import article_paths

ROOT = Path(__file__).resolve().parents[2]
INTENTS = frozenset({"order", "product-info", "adverse-event"})
GOOD = """---
title: Storing Dolorex tablets
product: dolorex
language: en
tags: [storage, temperature]
intents: [product-info]
---
Store **below 25 °C**.

- keep the box
- see the leaflet
"""


def problems(text: str, intents: frozenset[str] | None = INTENTS) -> list[tuple[int, str]]:
    parsed = parse_article(text, "k/a.md", "a.md", intents)
    assert (parsed.article is None) == bool(parsed.problems)
    return [(p.line, p.message) for p in parsed.problems]


def test_a_good_article_has_its_fields_html_and_text() -> None:
    parsed = parse_article(GOOD, "knowledge/dolorex/Storage EN.md", "dolorex/Storage EN.md", INTENTS)
    a = parsed.article
    assert parsed.problems == () and a is not None
    assert (a.id, a.title, a.product, a.language) == ("dolorex/storage-en", "Storing Dolorex tablets",
                                                      "dolorex", "en")
    assert a.tags == ("storage", "temperature") and a.intents == ("product-info",)
    assert a.html == ("<p>Store <strong>below 25 °C</strong>.</p>\n<ul>\n<li>keep the box</li>\n"
                      "<li>see the leaflet</li>\n</ul>\n")
    assert a.text == "Store below 25 °C.\nkeep the box\nsee the leaflet"
    assert a.markdown.startswith("Store **below") and a.content_hash == content_hash(GOOD)
    assert content_hash(GOOD + " ") != a.content_hash


def test_the_front_matter_id_wins_over_the_file_name() -> None:
    a = parse_article(GOOD.replace("tags:", "id: dolorex-storage\ntags:"), "x.md").article
    assert a is not None and a.id == "dolorex-storage" and a.id_line == 5
    assert default_id("Dolorex/Stockage (FR).md") == "dolorex/stockage-fr"


def test_admins_html_and_script_links_never_reach_the_page() -> None:
    body = ('<script>alert(1)</script> <img src=x onerror=alert(1)>\n\n'
            '[click](javascript:alert(1)) [leaflet](https://example.org/leaflet.pdf)\n\n'
            '<a href="https://x.org" onclick="steal()">raw</a>\n')
    a = parse_article(GOOD.split("---\nStore")[0] + "---\n" + body, "a.md").article
    assert a is not None
    tags = re.findall(r"<[^>]*>", a.html)
    assert {re.match(r"</?(\w+)", t).group(1) for t in tags} == {"p", "a"}   # type: ignore[union-attr]
    assert not [t for t in tags if re.search(r"\son\w+=|javascript:", t)]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in a.html        # shown as text
    assert '<a href="https://example.org/leaflet.pdf" rel="noopener noreferrer">leaflet</a>' in a.html


def test_no_front_matter_or_an_unclosed_one() -> None:
    assert problems("Just text\n") == [(1, problems("Just text\n")[0][1])]
    assert "no front matter" in problems("Just text\n")[0][1]
    [(line, msg)] = problems("---\ntitle: x\nproduct: y\n\nbody\n")
    assert line == 1 and "never closed" in msg


def test_yaml_errors_point_at_the_file_line() -> None:
    text = GOOD.replace("tags: [storage, temperature]", "tags: [storage, temperature")
    [(line, msg)] = problems(text)
    assert line == 5 and "YAML syntax" in msg
    [(line, msg)] = problems(GOOD.replace("language: en", "language: en\ntitle: again"))
    assert line == 5 and "duplicate key 'title'" in msg


def test_missing_unknown_and_bad_fields_each_at_their_line() -> None:
    text = """---
title: Storing
language: de
tags: storage
colour: red
intents: [product-info, refund]
---
Body.
"""
    assert problems(text) == [
        (1, "missing field product in the front matter"),
        (3, "unknown language 'de': use one of fr, en, zh"),
        (4, "tags must be a list, e.g. tags: [storage, dosage]"),
        (5, "unknown field 'colour': the fields are title, product, language, tags, id, intents"),
        (6, "intent 'refund' is not an intent of the dialplan: known intents are adverse-event, "
            "order, product-info"),
    ]


def test_intents_are_checked_only_against_a_known_dialplan() -> None:
    text = GOOD.replace("[product-info]", "[refund]")
    assert problems(text, None) == []
    assert [line for line, _ in problems(text)] == [6]


def test_an_empty_body_and_a_bad_id() -> None:
    head = GOOD.split("---\nStore")[0] + "---\n"
    assert problems(head + "\n   \n") == [(8, "the article has no text after its front matter: write "
                                                "the answer below the closing `---`")]
    [(line, msg)] = problems(GOOD.replace("tags:", "id: Not An Id\ntags:"))
    assert line == 5 and "id 'Not An Id' must be lower-case" in msg


def test_duplicate_ids_keep_the_first_file_and_point_at_both() -> None:
    with_id = GOOD.replace("tags:", "id: dolorex-storage\ntags:")
    parsed = check_articles([ArticleFile("k/b.md", "b.md", with_id),
                             ArticleFile("k/a.md", "a.md", with_id),
                             ArticleFile("k/c.md", "c.md", GOOD)], INTENTS)
    assert [p.name for p in parsed] == ["a.md", "b.md", "c.md"]
    assert parsed[0].article is not None and parsed[2].article is not None
    [problem] = problems_of(parsed)
    assert (problem.file, problem.line) == ("k/b.md", 5)
    assert "id 'dolorex-storage' is already the id of k/a.md (line 5)" in problem.message


def test_a_broken_article_never_stops_the_others() -> None:
    parsed = check_articles([ArticleFile("k/bad.md", "bad.md", "no front matter"),
                             ArticleFile("k/good.md", "good.md", GOOD)])
    assert [p.article is not None for p in parsed] == [False, True]


def test_the_dialplan_intents_include_routes_speech_and_safety() -> None:
    assert plan_intents(load_plan(ROOT / "dialplans/hotline.yaml")) == {
        "adverse-event", "callback", "complaint", "delivery", "medical-question", "operator",
        "order", "product-info"}
    assert {"order", "product", "agent"} <= plan_intents(load_plan(ROOT / "dialplans/speech.yaml"))


@pytest.mark.parametrize("path", article_paths(ROOT / "knowledge"), ids=lambda p: p.name)
def test_the_demo_articles_are_sound(path: Path) -> None:
    intents = plan_intents(load_plan(ROOT / "dialplans/hotline.yaml"))
    parsed = parse_article(path.read_text(encoding="utf-8"), str(path), path.name, intents)
    assert parsed.problems == ()


def test_the_demo_content_covers_three_languages_and_the_hotline_intents() -> None:
    articles = [parse_article(p.read_text(encoding="utf-8"), p.name, p.name).article
                for p in article_paths(ROOT / "knowledge")]
    by_language = {lang: [a for a in articles if a and a.language == lang] for lang in ("fr", "en", "zh")}
    assert len(by_language["fr"]) >= 6 and len(by_language["en"]) >= 6 and len(by_language["zh"]) >= 3
    covered = {i for a in articles if a for i in a.intents}
    assert {"adverse-event", "complaint", "medical-question", "product-info", "order", "delivery"} <= covered
