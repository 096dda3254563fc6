"""What the public chat and form page says, in the visitor's language (pure: no I/O).

The page offers `LANGUAGES`; the visitor's choice (`?lang=`, then remembered in a cookie) wins,
then the browser's Accept-Language, then `channels.chat.language`. Texts with {placeholders}
are filled on the server (refusals) or by chat.js (live states: {name}, {hours}), always as
text, never as HTML."""
from __future__ import annotations

LANGUAGES = ("fr", "en")

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "page.title": "Contact us",
        "chat.title": "Chat with us",
        "chat.start": "Type your question; an agent will join you.",
        "chat.name": "Your name",
        "chat.email": "E-mail (optional)",
        "chat.message": "Message",
        "chat.send": "Send",
        "chat.fallback_email": "Your e-mail address",
        "chat.fallback_send": "Answer me by e-mail",
        "form.title": "Or send us a message",
        "form.sent_before": "Thank you. Your message is registered under the reference",
        "form.sent_after": "; we answer by e-mail or call you back.",
        "form.name": "Name", "form.email": "E-mail", "form.phone": "Phone", "form.topic": "Topic",
        "form.message": "Message", "form.send": "Send message",
        "language": "Language",
        "state.waiting": "Waiting for an agent…",
        "state.joined": "{name} has joined the chat.",
        "state.unanswered": "All our agents are busy. Leave your e-mail address and we answer within "
                            "{hours} hours, or keep waiting.",
        "state.emailed": "Thank you. We answer by e-mail within {hours} hours.",
        "state.closed": "The agent has ended the chat. Thank you!",
        "state.unavailable": "The chat is unavailable; please try again.",
        "refused.too_long": "Your message is too long (at most {max} characters). Please shorten it; "
                            "the chat stays open.",
        "refused.too_fast": "You are sending messages too quickly. Please wait a minute; the chat stays open.",
        "refused.too_many_chats": "There are already {chats} chats open from your network. "
                                  "Please continue in one of them.",
        "refused.empty": "Please type a message first.",
        "refused.not_open": "This chat is over. Reload the page to start a new one.",
        "refused.csrf": "This page has expired. Please reload it and try again.",
        "refused.email": "Please give a valid e-mail address.",
        "problem.required": "Please fill this in.",
        "problem.invalid": "This does not look right.",
        "problem.email_or_phone": "Please give an e-mail address or a phone number.",
        "problem.pick_one": "Please pick a topic.",
        "problem.too_long": "This is too long.",
    },
    "fr": {
        "page.title": "Nous contacter",
        "chat.title": "Discutez avec nous",
        "chat.start": "Écrivez votre question ; un conseiller va vous rejoindre.",
        "chat.name": "Votre nom",
        "chat.email": "E-mail (facultatif)",
        "chat.message": "Message",
        "chat.send": "Envoyer",
        "chat.fallback_email": "Votre adresse e-mail",
        "chat.fallback_send": "Répondez-moi par e-mail",
        "form.title": "Ou envoyez-nous un message",
        "form.sent_before": "Merci. Votre message est enregistré sous la référence",
        "form.sent_after": " ; nous vous répondons par e-mail ou vous rappelons.",
        "form.name": "Nom", "form.email": "E-mail", "form.phone": "Téléphone", "form.topic": "Sujet",
        "form.message": "Message", "form.send": "Envoyer le message",
        "language": "Langue",
        "state.waiting": "En attente d'un conseiller…",
        "state.joined": "{name} a rejoint la discussion.",
        "state.unanswered": "Tous nos conseillers sont occupés. Laissez votre adresse e-mail et nous "
                            "répondons sous {hours} heures, ou continuez d'attendre.",
        "state.emailed": "Merci. Nous vous répondons par e-mail sous {hours} heures.",
        "state.closed": "Le conseiller a terminé la discussion. Merci !",
        "state.unavailable": "La discussion est indisponible ; veuillez réessayer.",
        "refused.too_long": "Votre message est trop long ({max} caractères au plus). Raccourcissez-le ; "
                            "la discussion reste ouverte.",
        "refused.too_fast": "Vous envoyez des messages trop vite. Patientez une minute ; la discussion "
                            "reste ouverte.",
        "refused.too_many_chats": "{chats} discussions sont déjà ouvertes depuis votre réseau. "
                                  "Continuez dans l'une d'elles.",
        "refused.empty": "Écrivez d'abord un message.",
        "refused.not_open": "Cette discussion est terminée. Rechargez la page pour en commencer une autre.",
        "refused.csrf": "Cette page a expiré. Rechargez-la et réessayez.",
        "refused.email": "Indiquez une adresse e-mail valide.",
        "problem.required": "Veuillez remplir ce champ.",
        "problem.invalid": "Cette valeur ne semble pas correcte.",
        "problem.email_or_phone": "Indiquez une adresse e-mail ou un numéro de téléphone.",
        "problem.pick_one": "Choisissez un sujet.",
        "problem.too_long": "C'est trop long.",
    },
}


def pick_language(asked: str | None, remembered: str | None, accept_language: str | None,
                  default: str) -> str:
    """The visitor's language: their explicit choice, then the remembered one, then the
    browser's preferences in order of q-value, then the hotline's default."""
    for choice in (asked, remembered):
        if choice in LANGUAGES:
            return choice
    ranked: list[tuple[float, int, str]] = []
    for i, item in enumerate((accept_language or "").split(",")[:20]):
        tag, _, params = item.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        ranked.append((-q, i, tag.strip().lower().split("-")[0]))
    for neg_q, _, lang in sorted(ranked):
        if neg_q < 0 and lang in LANGUAGES:
            return lang
    return default if default in LANGUAGES else LANGUAGES[0]


def texts(language: str) -> dict[str, str]:
    return TEXTS.get(language, TEXTS["en"])
