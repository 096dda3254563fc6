"""The agents' desk: a web application in its own process (`ivr desk serve`).

policy.py and i18n.py are pure (rules, texts); passwords.py and users.py are the store
adapters (argon2 hashes; users, sessions and sign-in failures in the CRM database);
app.py builds the Starlette app from DeskDeps; web.py holds the helpers every route uses
(current_user, require, may_see_agent, render); auth.py, admin.py and pages.py are the
routes; server.py runs it under uvicorn. `ivr desk …` is ivr/cli/desk.py.
"""
