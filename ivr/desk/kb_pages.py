"""/kb: the knowledge base's search (GET ?q=: an article search is not personal data, and a
result page can be bookmarked and shared) with language and product filters, and /kb/{id}:
one article, its sanitised HTML shown as HTML."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ivr.knowledge.article import LANGUAGES
from ivr.knowledge.store import KnowledgeBase

from .web import deps, error_page, render, require

MAX_QUERY = 200


@require("agent")
async def kb_search(request: Request) -> Response:
    kb = KnowledgeBase(deps(request).store)
    query = request.query_params.get("q", "").strip()[:MAX_QUERY]
    products = await kb.products()
    language = request.query_params.get("language") or None
    product = request.query_params.get("product") or None
    language = language if language in LANGUAGES else None
    product = product if product in products else None
    hits = await kb.search(query, language=language, product=product, limit=30) if query else None
    return render(request, "kb.html", {"query": query, "hits": hits, "languages": LANGUAGES,
                                       "products": products, "language": language or "",
                                       "product": product or "", "count": await kb.count()})


@require("agent")
async def kb_article(request: Request) -> Response:
    article = await KnowledgeBase(deps(request).store).article(request.path_params["article_id"])
    if article is None:
        return error_page(request, 404, "error.404")
    return render(request, "kb_article.html", {"article": article, "back": request.query_params.get("q", "")})


routes = [
    Route("/kb", kb_search, methods=["GET"]),
    Route("/kb/{article_id:path}", kb_article, methods=["GET"]),
]
