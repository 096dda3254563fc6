"""The knowledge base's index in the CRM database, on SQLite (FTS5) and a real PostgreSQL 15
(tsvector + GIN): accents, case, Chinese, filters, ranking, suggestions, incremental runs."""
from __future__ import annotations

import asyncio
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "crm"))
from crm_pg import crm_url, pg_server  # noqa: E402,F401  (crm_url: fixture)

from ivr.crm.store import CrmStore, open_store  # noqa: E402
from ivr.knowledge.store import KnowledgeBase  # noqa: E402
from ivr.knowledge.sync import KnowledgeWatcher, index_folder  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A copy of the demo content (the folder admins edit)."""
    return Path(shutil.copytree(ROOT / "knowledge", tmp_path / "knowledge"))


async def opened(url: str) -> tuple[CrmStore, KnowledgeBase]:
    store = await open_store(url)
    return store, KnowledgeBase(store)


def ids(hits: list) -> list[str]:
    return [h.id for h in hits]


async def test_search_folds_accents_and_case_and_finds_chinese(crm_url: str, folder: Path) -> None:
    store, kb = await opened(crm_url)
    try:
        report = await index_folder(kb, folder, NOW)
        assert report.problems == [] and report.total == len(report.added) == 21
        plain = await kb.search("effet indesirable declaration", language="fr")
        assert ids(plain)[0] == "adverse-event-report.fr"
        assert ids(await kb.search("EFFET INDÉSIRABLE DÉCLARATION", language="fr")) == ids(plain)
        assert ids(await kb.search("pharmacovigilance"))[:2] == ["adverse-event-report.en",
                                                                  "adverse-event-report.fr"]
        assert ids(await kb.search("Pharmacovigilancé", language="en")) == ids(await kb.search(
            "pharmacovigilance", language="en")) == ["adverse-event-report.en", "quality-complaint.en"]
        assert ids(await kb.search("不良反应")) == ["adverse-event-report.zh", "quality-complaint.zh"]
        assert ids(await kb.search("批号", language="zh"))[0] == "quality-complaint.zh"
        assert ids(await kb.search("储存")) == ["dolorex-storage.zh"]
        assert await kb.search("zzzz unknown") == [] and await kb.search("  ") == []
    finally:
        await store.close()


async def test_filters_ranking_and_the_any_word_fallback(crm_url: str, folder: Path) -> None:
    store, kb = await opened(crm_url)
    try:
        await index_folder(kb, folder, NOW)
        assert set(ids(await kb.search("storage", product="DOLOREX"))) == {"dolorex-storage.en"}
        assert {h.product for h in await kb.search("leaflet", product="dolorex")} == {"dolorex"}
        assert {h.language for h in await kb.search("Dolorex", language="zh")} == {"zh"}
        # a word of the title weighs more than the same word in another article's body
        hits = await kb.search("inhaler")
        assert hits[0].id == "respiral-inhaler.en" and hits[0].score > hits[-1].score > 0
        # no article holds both words: those holding either come, best first
        either = ids(await kb.search("dermacalm orders", language="en"))
        assert {"dermacalm-cream.en", "pharmacist-orders.en"} <= set(either)
        assert ids(await kb.search("leaflet", limit=2)) == ids(await kb.search("leaflet"))[:2]
        hit = (await kb.search("Respiral compteur", language="fr"))[0]
        assert hit.as_dict()["summary"].startswith("Contenu de démonstration fictif")
        assert hit.tags == ["inhalateur", "compteur de doses", "conservation", "notice"]
    finally:
        await store.close()


async def test_suggestions_intent_first_in_the_callers_language(crm_url: str, folder: Path) -> None:
    store, kb = await opened(crm_url)
    try:
        await index_folder(kb, folder, NOW)
        pop = await kb.suggest("adverse-event", "effet indésirable du Dolorex, quelle posologie", "fr")
        assert ids(pop)[:2] == ["adverse-event-report.fr", "dolorex-dosage.fr"]   # intent, then words
        languages = [h.language for h in pop]
        assert len(pop) == 5 and languages == sorted(languages, key=lambda lang: lang != "fr")
        assert ids(await kb.suggest("complaint", None, "zh", limit=1)) == ["quality-complaint.zh"]
        # no intent: the transcript's words alone
        words = ids(await kb.suggest(None, "how do I store Dolorex tablets", "en", limit=3))
        assert words[0] == "dolorex-storage.en"
        # nothing known about the call: nothing suggested
        assert await kb.suggest(None, None, "fr") == [] and await kb.suggest("refund", "", "fr") == []
    finally:
        await store.close()


async def test_article_gives_sanitised_html_and_its_fields(crm_url: str, folder: Path) -> None:
    (folder / "xss.en.md").write_text("---\ntitle: <b>Bold</b> title\nproduct: general\nlanguage: en\n"
                                      "tags: []\n---\nHello <script>alert(1)</script> **world**\n")
    store, kb = await opened(crm_url)
    try:
        await index_folder(kb, folder, NOW)
        a = await kb.article("xss.en")
        assert a is not None and a["html"] == "<p>Hello &lt;script&gt;alert(1)&lt;/script&gt; <strong>world</strong></p>\n"
        assert a["title"] == "<b>Bold</b> title"           # plain text: the page escapes it
        assert (a["file"], a["language"], a["tags"], a["indexed_at"]) == ("xss.en.md", "en", [], NOW)
        dosage = await kb.article("dolorex-dosage.en")
        assert dosage is not None and dosage["intents"] == ["medical-question"]
        assert "<strong>patient leaflet</strong>" in dosage["html"]
        assert await kb.article("nope") is None
    finally:
        await store.close()


async def test_index_runs_are_incremental_and_keep_a_broken_articles_last_version(
        crm_url: str, folder: Path) -> None:
    store, kb = await opened(crm_url)
    try:
        await index_folder(kb, folder, NOW)
        again = await index_folder(kb, folder, NOW)
        assert (again.added, again.updated, again.removed, again.unchanged) == ([], [], [], 21)
        storage = folder / "dolorex-storage.en.md"
        storage.write_text(storage.read_text().replace("below 25 °C", "below 25 °C (never frozen)"))
        (folder / "availability.en.md").unlink()
        edited = await index_folder(kb, folder, NOW)
        assert (edited.updated, edited.removed, edited.unchanged) == (["dolorex-storage.en"],
                                                                       ["availability.en"], 19)
        assert ids(await kb.search("frozen")) == ["dolorex-storage.en"]
        assert await kb.article("availability.en") is None
        # broken now: reported, and agents still find its last good version
        storage.write_text(storage.read_text().replace("language: en", "language: english"))
        broken = await index_folder(kb, folder, NOW)
        assert broken.kept == ["dolorex-storage.en"] and broken.removed == []
        assert [(p.line, "unknown language" in p.message) for p in broken.problems] == [(4, True)]
        assert ids(await kb.search("frozen")) == ["dolorex-storage.en"]
        assert await kb.count() == 20
    finally:
        await store.close()


async def test_the_watcher_indexes_at_start_then_only_when_the_folder_changes(
        crm_url: str, folder: Path) -> None:
    store, kb = await opened(crm_url)
    try:
        watcher = KnowledgeWatcher(kb, folder)
        first = await watcher.check_once()
        assert first is not None and len(first.added) == 21
        assert await watcher.check_once() is None                  # nothing read, nothing written
        (folder / "new.fr.md").write_text("---\ntitle: Nouveau\nproduct: general\nlanguage: fr\n"
                                          "tags: []\n---\nUn article ajouté à chaud.\n")
        later = await watcher.check_once()
        assert later is not None and later.added == ["new.fr"]
        assert ids(await kb.search("ajoute a chaud")) == ["new.fr"]
    finally:
        await store.close()


async def test_the_index_keeps_articles_whose_intent_the_dialplan_lacks(crm_url: str, folder: Path) -> None:
    """`ivr check` reports such an intent; the index never takes an answer from agents for it."""
    storage = folder / "dolorex-storage.en.md"
    storage.write_text(storage.read_text().replace("[product-info]", "[product-info, refund]"))
    store, kb = await opened(crm_url)
    try:
        report = await index_folder(kb, folder, NOW)
        assert report.problems == [] and "dolorex-storage.en" in report.added
        assert ids(await kb.suggest("refund", None, "en")) == ["dolorex-storage.en"]
    finally:
        await store.close()


async def test_the_watcher_waits_while_the_crm_database_fails_and_says_so_once(
        tmp_path: Path, folder: Path, caplog: pytest.LogCaptureFixture) -> None:
    store, kb = await opened(f"sqlite:///{tmp_path}/crm.db")
    watcher = KnowledgeWatcher(kb, folder)
    try:
        store._outage = OSError("disk full")          # as the writer marks an outage
        assert store.degraded and await watcher.check_once() is None and await kb.count() == 0
        store._outage = None
        await watcher.run(every_s=0)                  # watch_s 0: index once, then return
        assert await kb.count() == 21
    finally:
        await store.close()
    caplog.set_level("WARNING", logger="ivr.knowledge")
    (folder / "new.en.md").write_text("---\ntitle: New\nproduct: p\nlanguage: en\ntags: []\n---\nNew.\n")
    task = asyncio.create_task(watcher.run(every_s=0.01))   # the store is closed: every run fails
    await asyncio.sleep(0.2)
    task.cancel()
    failures = [r for r in caplog.records if "indexing" in r.getMessage() and "failed" in r.getMessage()]
    assert len(failures) == 1 and "the running index stays as it is" in failures[0].getMessage()
