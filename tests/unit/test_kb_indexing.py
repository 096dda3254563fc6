"""What an index run changes (incremental by content hash, broken files keep their last good
version), and the order of the screen-pop's suggestions."""
from __future__ import annotations

from ivr.knowledge.article import parse_article
from ivr.knowledge.indexing import Indexed, plan_sync
from ivr.knowledge.suggest import Candidate, order_suggestions


def article_text(title: str, extra: str = "") -> str:
    return f"---\ntitle: {title}\nproduct: p\nlanguage: en\ntags: []\n{extra}---\nBody of {title}.\n"


def parsed(name: str, text: str):
    return parse_article(text, f"k/{name}", name)


def held(name: str, text: str) -> Indexed:
    a = parsed(name, text).article
    assert a is not None
    return Indexed(a.id, name, a.content_hash)


def test_a_new_folder_is_all_added_and_an_unchanged_one_writes_nothing() -> None:
    files = [parsed("a.md", article_text("A")), parsed("b.md", article_text("B"))]
    first = plan_sync(files, [])
    assert [a.id for a in first.upsert] == ["a", "b"] and first.delete == () and first.changes == 2
    again = plan_sync(files, [held("a.md", article_text("A")), held("b.md", article_text("B"))])
    assert again.changes == 0 and again.unchanged == ("a", "b")


def test_an_edited_article_is_rewritten_and_a_deleted_one_removed() -> None:
    index = [held("a.md", article_text("A")), held("b.md", article_text("B"))]
    plan = plan_sync([parsed("a.md", article_text("A, edited"))], index)
    assert [a.title for a in plan.upsert] == ["A, edited"] and plan.delete == ("b",)


def test_a_broken_file_keeps_its_last_good_version() -> None:
    index = [held("a.md", article_text("A")), held("b.md", article_text("B"))]
    plan = plan_sync([parsed("a.md", "---\ntitle: [broken\n---\nx\n"),
                      parsed("b.md", article_text("B"))], index)
    assert plan.kept == ("a",) and plan.delete == () and plan.upsert == ()
    unreadable = plan_sync([parsed("b.md", article_text("B"))], index, unreadable=["a.md"])
    assert unreadable.kept == ("a",) and unreadable.delete == ()


def test_a_changed_id_replaces_the_old_one_and_a_moved_file_is_rewritten() -> None:
    index = [held("a.md", article_text("A"))]
    plan = plan_sync([parsed("a.md", article_text("A", "id: alpha\n"))], index)
    assert [a.id for a in plan.upsert] == ["alpha"] and plan.delete == ("a",)
    same_id = article_text("A", "id: alpha\n")
    moved = plan_sync([parsed("sub/a.md", same_id)], [held("a.md", same_id)])
    assert [a.id for a in moved.upsert] == ["alpha"] and moved.delete == ()   # its file is new


def c(id: str, language: str = "fr", intents: tuple[str, ...] = (), score: float = 0.0) -> Candidate:
    return Candidate(id, language, intents, score, title=id)


def test_suggestions_caller_language_then_intent_then_transcript_score() -> None:
    found = [c("en-intent", "en", ("adverse-event",)), c("fr-words-weak", score=1.0),
             c("fr-intent", intents=("adverse-event",)), c("fr-words-strong", score=5.0),
             c("zh-words", "zh", score=9.0), c("fr-intent-words", intents=("adverse-event",), score=2.0)]
    order = [x.id for x in order_suggestions(found, "adverse-event", "fr", limit=10)]
    assert order == ["fr-intent-words", "fr-intent", "fr-words-strong", "fr-words-weak",
                     "en-intent", "zh-words"]
    assert [x.id for x in order_suggestions(found, "adverse-event", "fr", limit=2)] == order[:2]


def test_suggestions_without_intent_or_language_rank_by_words_and_keep_each_article_once() -> None:
    found = [c("a", score=1.0), c("b", "en", score=3.0), c("a", score=4.0)]
    assert [(x.id, x.score) for x in order_suggestions(found, None, None)] == [("a", 4.0), ("b", 3.0)]
    assert order_suggestions(found, None, None, limit=0) == []


def test_files_the_index_holds_as_they_are_are_not_parsed_again() -> None:
    from ivr.knowledge.checks import ArticleFile, check_articles
    from ivr.knowledge.indexing import unchanged_files

    a, b = article_text("A"), article_text("B")
    index = [held("a.md", a), held("b.md", b)]
    files = [ArticleFile("k/a.md", "a.md", a), ArticleFile("k/b.md", "b.md", b + "edited\n"),
             ArticleFile("k/c.md", "c.md", article_text("C", "id: a\n"))]
    same = unchanged_files(files, index)
    assert list(same) == ["a.md"]
    parsed = check_articles([f for f in files if f.name not in same], None, {"a": "a.md"})
    assert [p.name for p in parsed] == ["b.md", "c.md"]
    assert "id 'a' is already the id of a.md:" in parsed[1].problems[0].message
    plan = plan_sync(parsed, index, unchanged=same.keys())
    assert plan.unchanged == ("a",) and [x.id for x in plan.upsert] == ["b"] and plan.delete == ()
