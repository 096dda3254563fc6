"""The desk's cases, contacts and knowledge-base pages in a real browser, on a real desk
server whose SQLite CRM is filled through the store API (contacts, calls, cases) and the
real CLI (`ivr kb index`). Screenshots at 1280×720: $IVR_DESK_SHOTS or the test's tmp."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from ivr.crm.records import CallRecord
from ivr.crm.store import open_store

from .conftest import sign_in, screenshot
from .desk_server import DeskServer
from .test_desk_admin import shot_path

HOSTILE = '<script>document.title="owned"</script><img src=x onerror="document.title=1">'


def in_crm(desk: DeskServer, job: Any) -> Any:
    """Run `await job(store)` on the desk's own CRM file (the store API, as the engine would)."""
    async def run() -> Any:
        store = await open_store(f"sqlite:///{desk.db}")
        try:
            return await job(store)
        finally:
            await store.close()
    # in a thread of its own: Playwright's sync API keeps an event loop running in this one
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


def today() -> str:
    return datetime.now(timezone.utc).date().isoformat()


@pytest.fixture(scope="module")
def crm(desk: DeskServer, tmp_path_factory) -> dict[str, Any]:
    """Contacts, two calls of one contact from two numbers, and an indexed knowledge base."""
    started = datetime.now(timezone.utc) - timedelta(hours=1)

    async def fill(store: Any) -> dict[str, Any]:
        helene = await store.save_contact("Hélène Müller", ["+4930111222", "+4930999888"], "pharmacist",
                                          organisation="Apotheke am Markt")
        hostile = await store.save_contact(HOSTILE, ["+4930555000"], "patient")
        for call_id, number, minutes in (("c-1001", "+4930111222", 0), ("c-1002", "+4930999888", 10)):
            store.save_call(CallRecord(call_id, caller=number, started_at=started + timedelta(minutes=minutes),
                                       ended_at=started + timedelta(minutes=minutes + 3), language="fr",
                                       intent="product-info", queue="pharma", agent="alice",
                                       speech_text="J'ai une question sur le Dolorex et ma grossesse",
                                       disposition="answered"))
        return {"helene": helene, "hostile": hostile}

    ids = in_crm(desk, fill)
    folder = tmp_path_factory.mktemp("kb")
    (folder / "dolorex-grossesse.fr.md").write_text(
        "---\ntitle: Dolorex pendant la grossesse\nproduct: dolorex\nlanguage: fr\ntags: [grossesse]\n---\n"
        "Le Dolorex est déconseillé au **premier trimestre** ; orientez vers le médecin.\n", encoding="utf-8")
    (folder / "respiral-storage.en.md").write_text(
        "---\ntitle: Storing Respiral\nproduct: respiral\nlanguage: en\ntags: [storage]\n---\n"
        "Keep below 25 °C.\n", encoding="utf-8")
    (folder / "dolorex-storage.zh.md").write_text(
        "---\ntitle: 如何储存 Dolorex 片剂\nproduct: dolorex\nlanguage: zh\ntags: [储存]\n---\n"
        "请在 25 °C 以下储存，避免潮湿。\n", encoding="utf-8")
    desk.ivr("kb", "index", "--dir", str(folder))
    return ids


def fill_case(page: Page, values: dict[str, str]) -> None:
    for name, value in values.items():
        page.fill(f"#f-{name}", value)


def test_an_ae_case_with_the_four_criteria_has_day0_and_due_date(page: Page, desk: DeskServer, crm, tmp_path):
    sign_in(page, desk, "alice")
    page.goto(desk.url + "/cases/new?kind=adverse_event")
    fill_case(page, {"patient": "F, 34 ans", "reporter": "Dr Martin", "product": "Dolorex",
                     "reaction": "urticaire"})
    page.click("#open-case")
    expect(page.locator("#notice")).to_be_visible()
    expect(page.locator("#criteria-complete")).to_be_visible()
    expect(page.locator("#day0")).to_have_text(today())
    due = (datetime.now(timezone.utc).date() + timedelta(days=90)).isoformat()    # non-serious default
    expect(page.locator("#due-date")).to_contain_text(due)
    # serious now: the due date moves to 15 days, and the audit trail says who did it
    page.check("input[name=seriousness][value=hospitalisation]")
    page.click("#save-case")
    expect(page.locator("#serious")).to_contain_text("hospitalisation")
    expect(page.locator("#due-date")).to_contain_text(
        (datetime.now(timezone.utc).date() + timedelta(days=15)).isoformat())
    audit = page.locator("#audit")
    expect(audit.locator("tr", has_text="fields.seriousness")).to_contain_text("alice")
    expect(audit.locator("tr", has_text="fields.reaction")).to_contain_text("urticaire")
    screenshot(page, shot_path(tmp_path, "case-ae.png"))


def test_missing_criteria_are_listed(page: Page, desk: DeskServer, crm):
    sign_in(page, desk, "alice")
    page.goto(desk.url + "/cases/new?kind=adverse_event")
    fill_case(page, {"product": "Dolorex", "reaction": "nausées"})
    page.click("#open-case")
    missing = page.locator("#missing-criteria")
    expect(missing).to_contain_text("identifiable patient")
    expect(missing).to_contain_text("identifiable reporter")
    expect(missing).not_to_contain_text("suspect product")
    expect(page.locator("#day0")).to_contain_text("not yet")
    page.fill("#f-patient", "M, 60")
    page.fill("#f-reporter_contact", "+49 30 123456")
    page.click("#save-case")
    expect(page.locator("#criteria-complete")).to_be_visible()
    expect(page.locator("#day0")).to_have_text(today())


def test_a_missing_required_field_keeps_the_text_and_says_so_by_the_field(page: Page, desk: DeskServer, crm):
    sign_in(page, desk, "alice")
    page.goto(desk.url + "/cases/new?kind=complaint")
    fill_case(page, {"product": "Respiral", "batch": "L-2291", "expiry": "next year"})
    page.click("#open-case")
    expect(page.locator("#form-error")).to_be_visible()
    expect(page.locator("#description-error")).to_contain_text("Required")
    expect(page.locator("#expiry-error")).to_contain_text("YYYY-MM-DD")
    expect(page.locator("#f-description")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-product")).to_have_value("Respiral")
    expect(page.locator("#f-batch")).to_have_value("L-2291")
    expect(page.locator("#f-expiry")).to_have_value("next year")


def test_closing_needs_a_reason_and_is_audited_and_reopening_too(page: Page, desk: DeskServer, crm):
    sign_in(page, desk, "sam")
    page.goto(desk.url + "/cases/new?kind=medinfo")
    fill_case(page, {"question": "Dose maximale ?", "product": "Dolorex"})
    page.click("#open-case")
    expect(page.locator("#notice")).to_be_visible()
    case_url = page.url.split("?")[0]
    page.click("#close-form button")
    expect(page.locator("#close_reason-error")).to_contain_text("reason")
    expect(page.locator("#case-status")).to_have_text("open")
    page.fill("#close-reason-input", "answered on the phone")
    page.click("#close-form button")
    expect(page.locator("#case-status")).to_have_text("closed")
    expect(page.locator("#close-reason")).to_have_text("answered on the phone")
    assert page.locator("#case-form").count() == 0               # closed: read only
    assert page.get_by_role("button", name="Delete").count() == 0
    page.fill("#reopen-reason-input", "caller rang back")
    page.click("#reopen-form button")
    expect(page.locator("#case-status")).to_have_text("open")
    audit = page.locator("#audit")
    expect(audit.locator("tr", has_text="close_reason").first).to_contain_text("answered on the phone")
    expect(audit.locator("tr", has_text="status").last).to_contain_text("sam")
    assert page.url.startswith(case_url)


def test_a_case_from_a_call_is_prefilled_and_linked_and_the_worklist_shows_it(page: Page, desk: DeskServer,
                                                                               crm, tmp_path):
    sign_in(page, desk, "alice")
    page.goto(desk.url + "/cases/new?kind=medinfo&call=c-1001")
    expect(page.locator("#f-question")).to_have_value("J'ai une question sur le Dolorex et ma grossesse")
    expect(page.locator("#f-product")).to_have_value("dolorex")        # the one product the call named
    page.click("#open-case")
    expect(page.locator("#case-calls")).to_contain_text("c-1001")
    expect(page.locator("#case-contact")).to_have_text("Hélène Müller")
    # an overdue AE case comes first in the worklist, in red and said in words
    old = datetime.now(timezone.utc) - timedelta(days=120)
    in_crm(desk, lambda s: s.open_case("adverse_event", {"patient": "x", "reporter": "y", "product": "Dolorex",
                                                          "reaction": "z"}, "bob", now=old))
    page.goto(desk.url + "/cases")
    first = page.locator("#cases tbody tr").first
    expect(first).to_contain_text("overdue")
    expect(first.locator(".overdue")).to_have_css("color", "rgb(179, 38, 30)")
    page.select_option("#kind", "medinfo")
    page.click("#case-filters button[type=submit]")
    expect(page).to_have_url(desk.url + "/cases?kind=medinfo&status=open")
    assert all("Medical information" in row for row in page.locator("#cases tbody tr").all_inner_texts())
    page.goto(desk.url + "/cases")
    screenshot(page, shot_path(tmp_path, "cases-worklist.png"))


def test_an_ae_case_of_an_ivr_flagged_call_is_the_one_linked_to(page: Page, desk: DeskServer, crm):
    in_crm(desk, _ae_call)
    sign_in(page, desk, "alice")
    page.goto(desk.url + "/cases/new?kind=adverse_event&call=c-ae-1")
    expect(page).to_have_url(desk.url + "/cases/AE-c-ae-1")
    expect(page.locator("#f-transcript")).to_have_value("effet secondaire après Dolorex")


async def _ae_call(store: Any) -> None:
    store.save_call(CallRecord("c-ae-1", caller="+4930111222", started_at=datetime.now(timezone.utc),
                               adverse_event=True, speech_text="effet secondaire après Dolorex"))


def test_contact_search_without_accents_card_history_and_consent_audit(page: Page, desk: DeskServer, crm,
                                                                      tmp_path):
    sign_in(page, desk, "alice")
    page.goto(desk.url + "/contacts")
    page.fill("#q", "helene muller")
    page.press("#q", "Enter")
    expect(page).to_have_url(desk.url + "/contacts")           # POST: the name is in no URL
    page.locator("#contacts a", has_text="Hélène Müller").click()
    expect(page.locator("#contact-name")).to_have_text("Hélène Müller")
    calls = page.locator("#contact-timeline")
    expect(calls).to_contain_text("+4930111222")
    expect(calls).to_contain_text("+4930999888")             # both of her numbers
    # a consent change without its source is refused by the field, what was typed kept
    page.select_option("#c-pv_follow_up_consent", "true")
    page.fill("#c-email", "helene@example.org")
    page.click("#save-contact")
    expect(page.locator("#consent_source-error")).to_contain_text("Required when consent changes")
    expect(page.locator("#c-email")).to_have_value("helene@example.org")
    expect(page.locator("#c-pv_follow_up_consent")).to_have_value("true")
    page.fill("#c-consent_source", "phone call")
    page.click("#save-contact")
    expect(page.locator("#notice")).to_be_visible()
    audit = page.locator("#contact-audit")
    expect(audit.locator("tr", has_text="pv_follow_up_consent")).to_contain_text("alice")
    expect(audit.locator("tr", has_text="consent_source")).to_contain_text("phone call")
    expect(audit.locator("tr", has_text="consent_date")).to_contain_text(today())
    screenshot(page, shot_path(tmp_path, "contact-card.png"), full_page=True)
    # an AE case opened from the card names her as the reporter and belongs to her
    page.click("#new-case-for-contact")
    page.select_option("#new-kind", "adverse_event")
    page.click("form[action='/cases/new'] button[type=submit]")
    expect(page.locator("#f-reporter")).to_have_value("Hélène Müller (pharmacist)")
    page.fill("#f-reaction", "vertiges")
    page.click("#open-case")
    expect(page.locator("#case-contact")).to_have_text("Hélène Müller")
    expect(page.locator("#missing-criteria")).to_contain_text("suspect product")


def test_untrusted_text_shows_as_text(page: Page, desk: DeskServer, crm):
    sign_in(page, desk, "alice")
    page.goto(desk.url + f"/contacts/{crm['hostile']}")
    expect(page.locator("#contact-name")).to_have_text(HOSTILE)
    page.goto(desk.url + "/cases/new?kind=complaint")
    fill_case(page, {"product": HOSTILE, "description": HOSTILE})
    page.click("#open-case")
    expect(page.locator("#notice")).to_be_visible()          # opened: the case page
    expect(page.locator("#f-product")).to_have_value(HOSTILE)
    page.goto(desk.url + "/cases?kind=complaint")
    expect(page.locator("#cases")).to_contain_text(HOSTILE)
    assert page.locator("main script, main img").count() == 0
    assert page.title() not in ("owned", "1")


def test_kb_search_folds_accents_and_shows_the_article(page: Page, desk: DeskServer, crm, tmp_path):
    sign_in(page, desk, "alice")
    page.click("nav a[href='/kb']")
    page.fill("#kb-q", "deconseille")
    page.press("#kb-q", "Enter")
    hits = page.locator("#kb-hits li")
    expect(hits).to_have_count(1)
    expect(hits.first).to_contain_text("Dolorex pendant la grossesse")
    screenshot(page, shot_path(tmp_path, "kb-search.png"))
    page.select_option("#kb-language", "en")
    page.click("#kb-search button[type=submit]")
    expect(page.locator("#no-hits")).to_be_visible()
    page.go_back()
    page.click("#kb-hits a")
    expect(page.locator("#article-title")).to_have_text("Dolorex pendant la grossesse")
    expect(page.locator("#article-body strong")).to_have_text("premier trimestre")   # its HTML, rendered
    screenshot(page, shot_path(tmp_path, "kb-article.png"))
    # Chinese is searchable and shows as glyphs (the setup installs a CJK font for chromium)
    page.goto(desk.url + "/kb?q=储存")
    expect(page.locator("#kb-hits li").first).to_contain_text("如何储存 Dolorex 片剂")
    page.click("#kb-hits a")
    expect(page.locator("#article-body")).to_contain_text("避免潮湿")
    screenshot(page, shot_path(tmp_path, "kb-article-zh.png"))


def test_the_pages_work_with_the_keyboard(page: Page, desk: DeskServer, crm):
    sign_in(page, desk, "alice")
    page.goto(desk.url + "/contacts")
    expect(page.locator("#q")).to_be_focused()                # autofocus: type at once
    page.keyboard.type("Müller")
    page.keyboard.press("Enter")
    expect(page.locator("#contacts")).to_contain_text("Hélène Müller")


def test_the_pages_speak_french_too(page: Page, desk: DeskServer, crm, tmp_path):
    desk.add_user("zoe", "agent", "zoe-secret-123", language="fr")
    sign_in(page, desk, "zoe", "zoe-secret-123")
    page.goto(desk.url + "/cases/new?kind=adverse_event")
    fill_case(page, {"product": "Dolorex", "onset_date": "2999-01-01"})
    page.click("#open-case")
    expect(page.locator("#form-error")).to_contain_text("erreurs")
    # the rules' refusals in the agent's language too, not only the labels
    expect(page.locator("#onset_date-error")).to_have_text("Le 2999-01-01 est dans le futur (nous sommes le "
                                                          f"{today()}).")
    expect(page.locator("label[for=f-reaction]")).to_have_text("Effet indésirable")
    in_crm(desk, lambda s: s.open_case("adverse_event", {"reaction": "toux", "product": "Respiral", "patient": "p",
                                                          "reporter": "r"}, "zoe",
                                       now=datetime.now(timezone.utc) - timedelta(days=100)))
    page.goto(desk.url + "/cases")
    expect(page.locator("nav a[href='/cases']")).to_have_text("Dossiers")
    expect(page.locator("#cases tbody tr").first).to_contain_text("en retard")
    # readable at 1280×720: the worklist stays inside its card (French words are longer)
    assert page.evaluate("""() => { const t = document.querySelector('#cases');
        return t.getBoundingClientRect().right <= t.parentElement.getBoundingClientRect().right; }""")
    screenshot(page, shot_path(tmp_path, "cases-worklist-fr.png"))


def test_a_save_whose_answer_is_lost_is_sent_again_and_opens_one_case(page: Page, desk: DeskServer, crm):
    """The first POST reaches the desk, which opens the case, but the browser never hears back
    (the link dropped): the page says so, keeps the typed text, sends it again by itself, and
    the one-time submission id makes the second send land on the case the first one opened."""
    sign_in(page, desk, "alice")
    page.goto(desk.url + "/cases/new?kind=medinfo")
    question = "Interaction Dolorex et anticoagulants ? (connexion perdue)"
    fill_case(page, {"question": question, "product": "Dolorex"})
    sent: list[int] = []

    def lose_the_first_answer(route: Any) -> None:
        sent.append(1)
        if len(sent) == 1:
            route.fetch()              # the desk gets it and opens the case...
            route.abort("connectionreset")   # ...but the answer never comes back
        else:
            route.continue_()
    page.route("**/cases/new", lambda route: lose_the_first_answer(route)
               if route.request.method == "POST" else route.continue_())
    page.click("#open-case")
    expect(page.locator("#case-form .connection-note")).to_contain_text("retrying")
    expect(page.locator("#f-question")).to_have_value(question)
    expect(page.locator("#notice")).to_be_visible(timeout=10_000)      # the retry's answer: the case
    assert len(sent) == 2
    opened = in_crm(desk, lambda s: s.list_cases(kind="medinfo"))
    assert [c["fields"]["question"] for c in opened].count(question) == 1


def test_an_edit_that_cannot_reach_the_desk_is_kept_and_retried(page: Page, desk: DeskServer, crm):
    sign_in(page, desk, "alice")
    page.goto(desk.url + f"/contacts/{crm['helene']}")
    page.fill("#c-organisation", "Apotheke am Rathaus")
    attempts: list[int] = []

    def fail_twice(route: Any) -> None:
        attempts.append(1)
        route.abort("internetdisconnected") if len(attempts) <= 2 else route.continue_()
    page.route(f"**/contacts/{crm['helene']}", lambda route: fail_twice(route)
               if route.request.method == "POST" else route.continue_())
    page.click("#save-contact")
    expect(page.locator("#contact-form .connection-note")).to_be_visible()
    expect(page.locator("#c-organisation")).to_have_value("Apotheke am Rathaus")
    expect(page.locator("#notice")).to_be_visible(timeout=15_000)
    assert len(attempts) == 3
    contact = in_crm(desk, lambda s: s.get_contact(crm["helene"]))
    assert contact["organisation"] == "Apotheke am Rathaus"


def test_long_lists_come_in_pages(page: Page, desk: DeskServer, crm):
    async def fill(store: Any) -> None:
        for n in range(53):
            await store.open_case("medinfo", {"question": f"pager question {n}"}, "alice")
            await store.save_contact(f"Pager Person {n:02d}", [f"+49301110{n:03d}"], "patient")
    in_crm(desk, fill)
    sign_in(page, desk, "alice")
    total = len(in_crm(desk, lambda s: s.list_cases("open", kind="medinfo")))
    page.goto(desk.url + "/cases?kind=medinfo&status=open")
    expect(page.locator("#cases tbody tr")).to_have_count(50)
    first_page = page.locator("#cases tbody tr").evaluate_all("rows => rows.map(r => r.dataset.case)")
    page.click("#page-next")
    expect(page.locator("#cases tbody tr")).to_have_count(total - 50)
    second_page = page.locator("#cases tbody tr").evaluate_all("rows => rows.map(r => r.dataset.case)")
    assert not set(first_page) & set(second_page)
    expect(page.locator("#page-next")).to_have_count(0)
    # the contact search pages by POST: the name typed never reaches a URL
    page.goto(desk.url + "/contacts")
    page.fill("#q", "pager person")
    page.click("#contact-search button")
    expect(page.locator("#contacts tbody tr")).to_have_count(50)
    page.click("#page-next")
    expect(page.locator("#contacts tbody tr")).to_have_count(3)
    expect(page.locator("#contacts")).to_contain_text("Pager Person 52")
    assert "pager" not in page.url.lower()


def test_one_customer_one_card_identities_merge_and_timeline(page: Page, desk: DeskServer, tmp_path):
    """A second card for the same pharmacist (her mobile, an e-mail she wrote from it) is found,
    reviewed and merged: her calls, her mail and her AE case end on one card, one timeline; an
    address another card owns is refused with the way out (merge); the duplicate is gone."""
    from ivr.channels.mime import InboundMail
    from ivr.channels.task_store import ingest_mail
    now = datetime.now(timezone.utc)

    async def fill(store: Any) -> dict[str, Any]:
        kept = await store.save_contact("Inès Fabre", ["+33140000077"], "pharmacist", organisation="Pharmacie du Port")
        dup = await store.save_contact("I. Fabre", ["+33611223344"], "other", notes="calls at night")
        await store.update_contact(dup, {"may_contact_phone": False, "consent_source": "phone call"}, "bob", now=now)
        await store.add_identity(dup, "email", "ines.fabre@pharmacie-port.fr", "bob", now=now)
        store.save_call(CallRecord("c-2001", caller="+33611223344", started_at=now - timedelta(hours=3),
                                   queue="pharma", agent="bob", disposition="answered"))
        mail = InboundMail(message_id="<fabre-1@pharmacie-port.fr>", sender="ines.fabre@pharmacie-port.fr",
                           sender_name="Inès Fabre", subject="<b>Rupture</b> de Dolorex ?", text="Bonjour",
                           html="", in_reply_to="", references="", headers={}, return_path=None, date=now)
        task = await ingest_mail(store, mail, queue="pharma", priority=0, safety=None, pv_queue="pv",
                                 pv_priority=9, now=now - timedelta(hours=2))
        case = await store.open_case("complaint", {"product": "Dolorex", "description": "boîte abîmée"}, "bob",
                                     contact_id=dup, now=now - timedelta(hours=1))
        return {"kept": kept, "dup": dup, "task": task.task_id, "case": case["case_id"]}

    ids = in_crm(desk, fill)
    sign_in(page, desk, "alice")
    # the duplicate is found by the address it wrote from; its card number shows in the results
    page.goto(desk.url + "/contacts")
    page.fill("#q", "ines.fabre@pharmacie")
    page.press("#q", "Enter")
    expect(page.locator(f"#contacts tr[data-contact='{ids['dup']}']")).to_contain_text(str(ids["dup"]))
    page.goto(desk.url + f"/contacts/{ids['kept']}")
    # her mobile is on the other card: refused, and the message says what to do
    page.select_option("#identity-kind", "phone")
    page.fill("#identity-value", "+33 6 11 22 33 44")
    page.click("#add-identity")
    expect(page.locator("#identity-error")).to_contain_text(f"Already on card no. {ids['dup']}")
    expect(page.locator("#identity-value")).to_have_value("+33 6 11 22 33 44")
    page.select_option("#identity-kind", "email")
    page.fill("#identity-value", "pas une adresse")
    page.click("#add-identity")
    expect(page.locator("#identity-error")).to_contain_text("not an e-mail address")
    # review first: both cards and what the kept card receives; nothing changed yet
    page.fill("#merge-other", str(ids["dup"]))
    page.click("#merge-review")
    expect(page.locator("#merge-other-card")).to_contain_text("+33611223344")
    changes = page.locator("#merge-changes")
    expect(changes).to_contain_text("calls at night")
    expect(changes.locator("tr", has_text="May be phoned")).to_contain_text("no")
    assert in_crm(desk, lambda s: s.get_contact(ids["dup"])) is not None
    screenshot(page, shot_path(tmp_path, "contact-merge-review.png"), full_page=True)
    page.click("#merge-confirm")
    expect(page.locator("#notice")).to_contain_text("Cards merged")
    timeline = page.locator("#contact-timeline")
    expect(timeline.locator("tr[data-kind='call'][data-ref='c-2001']")).to_contain_text("+33611223344")
    mail_row = timeline.locator(f"tr[data-kind='task'][data-ref='{ids['task']}']")
    expect(mail_row).to_contain_text("<b>Rupture</b> de Dolorex ?")       # the subject as text, never markup
    expect(mail_row).to_contain_text("E-mail")
    expect(timeline.locator(f"tr[data-kind='case'][data-ref='{ids['case']}']")).to_be_visible()
    identities = page.locator("#contact-identities")
    for shown in ("+33140000077", "+33611223344", "ines.fabre@pharmacie-port.fr"):
        expect(identities).to_contain_text(shown)
    expect(page.locator("#contact-audit tr", has_text="merged")).to_contain_text("alice")
    expect(page.locator("#c-may_contact_phone")).to_have_value("false")   # her refusal survived
    screenshot(page, shot_path(tmp_path, "contact-one-card.png"), full_page=True)
    assert in_crm(desk, lambda s: s.get_contact(ids["dup"])) is None
    case = in_crm(desk, lambda s: s.get_case(ids["case"]))
    assert case["contact_id"] == ids["kept"]
    # removing a number keeps its calls where they are; the last identity cannot go
    page.locator("#contact-identities li", has_text="+33611223344").locator("button").click()
    expect(page.locator("#notice")).to_contain_text("Removed from the card")
    expect(page.locator("#contact-identities")).not_to_contain_text("+33611223344")
