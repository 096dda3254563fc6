"""Knowledge-base search benchmark: index N generated articles (fr, en, zh) from a folder into
a fresh SQLite CRM database, then time searches as agents type them (one to three words,
accents or not, Chinese, some with a language or product filter) and screen-pop suggestions.

    .venv/bin/python bench/kb.py [--articles 10000] [--queries 1000] [--crm URL]

Prints a table, then one JSON line last (kb_search_ms_p50, kb_search_ms_p95, ...). Goal:
kb_search_ms_p95 <= 20 ms on 10,000 articles. Importable: `measure(n_articles)` returns the
same figures (bench/desk.py calls it)."""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ivr.crm.store import open_store  # noqa: E402
from ivr.knowledge.store import KnowledgeBase  # noqa: E402
from ivr.knowledge.sync import index_folder  # noqa: E402

PRODUCTS = [f"produit-{i:02d}" for i in range(40)] + ["dolorex", "respiral", "dermacalm", "general"]
INTENTS = ["medical-question", "product-info", "order", "delivery", "complaint", "adverse-event"]
WORDS = {
    "fr": ("posologie notice comprimé gélule conservation température péremption effet indésirable "
           "déclaration réclamation qualité numéro lot échantillon livraison commande pharmacien "
           "médecin grossesse enfant allergie interaction rupture stock disponibilité emballage "
           "étiquette flacon inhalateur crème pommade sirop dose oubli surdosage vigilance "
           "remboursement ordonnance générique fabrication contrôle retour conditionnement").split(),
    "en": ("dosage leaflet tablet capsule storage temperature expiry side effect report complaint "
           "quality batch number sample delivery order pharmacist doctor pregnancy child allergy "
           "interaction shortage stock availability packaging label bottle inhaler cream ointment "
           "syrup dose missed overdose safety refund prescription generic manufacturing control "
           "return pack").split(),
    "zh": ("用法 用量 说明书 片剂 胶囊 储存 温度 有效期 不良反应 报告 投诉 质量 批号 样品 配送 订单 "
           "药师 医生 妊娠 儿童 过敏 相互作用 短缺 库存 包装 标签 吸入器 乳膏 剂量 漏服 过量 安全").split(),
}
LANGUAGES = ("fr", "en", "zh")


def article(i: int, rng: random.Random) -> str:
    lang = LANGUAGES[i % 3] if i % 10 else "zh"          # ~40 % fr, ~40 % en, ~20 % zh
    words = WORDS[lang]
    join = "" if lang == "zh" else " "
    title = join.join(rng.sample(words, 4)).capitalize() + f" {i}"
    paragraphs = ["\n".join(join.join(rng.choices(words, k=12)) + ("。" if lang == "zh" else ".")
                            for _ in range(3)) for _ in range(rng.randint(2, 5))]
    tags = ", ".join(rng.sample(words, 3))
    intents = ", ".join(rng.sample(INTENTS, rng.randint(0, 2)))
    return (f"---\ntitle: {title}\nproduct: {rng.choice(PRODUCTS)}\nlanguage: {lang}\n"
            f"tags: [{tags}]\nintents: [{intents}]\n---\n" + "\n\n".join(paragraphs) + "\n")


def write_folder(folder: Path, n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    for i in range(n):
        sub = folder / f"batch-{i // 1000:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"article-{i:05d}.md").write_text(article(i, rng), encoding="utf-8")


def queries(n: int, seed: int = 11) -> list[dict[str, Any]]:
    """What agents type: words without their accents half the time, some filtered."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        lang = rng.choice(LANGUAGES)
        words = rng.sample(WORDS[lang], rng.randint(1, 3))
        text = ("" if lang == "zh" else " ").join(words)
        if lang != "zh" and rng.random() < 0.5:
            text = text.upper() if rng.random() < 0.3 else _strip_accents(text)
        q: dict[str, Any] = {"text": text}
        if rng.random() < 0.3:
            q["language"] = lang
        if rng.random() < 0.2:
            q["product"] = rng.choice(PRODUCTS)
        out.append(q)
    return out


def _strip_accents(text: str) -> str:
    import unicodedata
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def _measure(n_articles: int, n_queries: int, url: str | None, workdir: Path) -> dict[str, Any]:
    folder = workdir / "knowledge"
    t = time.perf_counter()
    write_folder(folder, n_articles)
    generate_s = time.perf_counter() - t
    store = await open_store(url or f"sqlite:///{workdir}/crm.db")
    kb = KnowledgeBase(store)
    try:
        t = time.perf_counter()
        report = await index_folder(kb, folder)
        index_s = time.perf_counter() - t
        assert report.total == n_articles and not report.problems, report.summary()
        t = time.perf_counter()
        again = await index_folder(kb, folder)
        reindex_s = time.perf_counter() - t
        assert again.unchanged == n_articles
        for q in queries(20, seed=1):            # warm the page cache and the statements
            await kb.search(**q)
        search_ms, found = [], 0
        for q in queries(n_queries):
            t = time.perf_counter()
            hits = await kb.search(**q)
            search_ms.append((time.perf_counter() - t) * 1000)
            found += bool(hits)
        rng = random.Random(3)
        suggest_ms = []
        for _ in range(max(1, n_queries // 5)):
            lang = rng.choice(LANGUAGES)
            transcript = " ".join(rng.sample(WORDS[lang], 6))
            t = time.perf_counter()
            await kb.suggest(rng.choice(INTENTS), transcript, lang)
            suggest_ms.append((time.perf_counter() - t) * 1000)
    finally:
        await store.close()
    return {
        "articles": n_articles, "queries": n_queries, "backend": store.backend.dialect,
        "generate_s": round(generate_s, 2), "index_s": round(index_s, 2),
        "index_articles_per_s": round(n_articles / index_s, 1), "reindex_unchanged_s": round(reindex_s, 2),
        "queries_with_hits": round(found / n_queries, 3),
        "kb_search_ms_p50": round(statistics.median(search_ms), 3),
        "kb_search_ms_p95": round(_pct(search_ms, 95), 3),
        "kb_search_ms_max": round(max(search_ms), 3),
        "kb_suggest_ms_p50": round(statistics.median(suggest_ms), 3),
        "kb_suggest_ms_p95": round(_pct(suggest_ms, 95), 3),
    }


def measure(n_articles: int = 10_000, n_queries: int = 1000, url: str | None = None) -> dict[str, Any]:
    """Index n_articles generated articles into a fresh SQLite database (or `url`, which
    must be an empty database) and time searches; the figures as a dict."""
    with tempfile.TemporaryDirectory(prefix="bench-kb-") as tmp:
        return asyncio.run(_measure(n_articles, n_queries, url, Path(tmp)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--crm", help="an empty CRM database URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    result = measure(args.articles, args.queries, args.crm)
    print(f"knowledge base: {result['articles']} articles on {result['backend']}")
    print(f"  index          {result['index_s']:8.2f} s  ({result['index_articles_per_s']} articles/s; "
          f"unchanged re-index {result['reindex_unchanged_s']} s)")
    print(f"  search         p50 {result['kb_search_ms_p50']:7.3f} ms  p95 {result['kb_search_ms_p95']:7.3f} ms"
          f"  max {result['kb_search_ms_max']:7.3f} ms  ({result['queries']} queries, "
          f"{result['queries_with_hits']:.0%} with hits; goal p95 <= 20 ms)")
    print(f"  suggest        p50 {result['kb_suggest_ms_p50']:7.3f} ms  p95 {result['kb_suggest_ms_p95']:7.3f} ms")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
