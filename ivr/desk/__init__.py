"""The agents' desk: a web application in its own process (`ivr desk serve`).

policy.py and i18n.py are pure (rules, texts); passwords.py and users.py are the store
adapters (argon2 hashes; users, sessions and sign-in failures in the CRM database);
deps.py is what routes are given (DeskDeps); app.py builds the Starlette app; middleware.py
adds security headers and the session + CSRF check to every request; web.py holds the
helpers every route uses; auth.py, account.py, admin.py and pages.py are the routes, and
case_pages.py, contact_pages.py, kb_pages.py those of cases, contacts and the knowledge base
(their forms' rules in case_forms.py, pure);
server.py runs it under uvicorn. `ivr desk …` is ivr/cli/desk.py.

Adding pages (a new module with `routes = [Route(...)]`, listed in app.create_app):
- guard each endpoint with `@require("agent" | "supervisor" | "admin")` (at least that role;
  people without a session go to /login, scripts get 401 JSON) and check
  `may_see_agent(current_user(request), agent)` before showing an agent's data;
- answer with `render(request, "page.html", {...})` (templates extend base.html; texts via
  `t('key')` from i18n.CATALOG, both languages) or `error_page(request, status, key)`;
- `deps(request)` gives settings, store, accounts, `engine` (the engine link) and `now()`;
- every POST/PUT/PATCH/DELETE needs the CSRF token: forms carry the hidden field
  `csrf_token` ({{ csrf_token }}); scripts call `deskFetch(url, options)` from desk.js,
  which sends the X-CSRF-Token header. No inline script or style (CSP default-src 'self').
"""
