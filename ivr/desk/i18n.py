"""The desk's texts in French and English (pure). Templates call the Jinja global
`t('key', **values)`; Python code calls `translate(language, key, **values)`.
tests/unit/test_desk_i18n.py checks that every key exists in both languages."""
from __future__ import annotations

LANGUAGE_NAMES = {"fr": "Français", "en": "English"}

CATALOG: dict[str, dict[str, str]] = {
    "fr": {
        "app.title": "Poste agent",
        "nav.skip": "Aller au contenu",
        "nav.signed_in_as": "Connecté : {name} ({role})",
        "nav.logout": "Se déconnecter",
        "nav.language": "Langue",
        "nav.switch": "Changer",
        "nav.admin": "Administration",
        "nav.supervisor": "Supervision",
        "role.agent": "agent",
        "role.supervisor": "superviseur",
        "role.admin": "administrateur",
        "login.title": "Connexion",
        "login.name": "Identifiant",
        "login.password": "Mot de passe",
        "login.submit": "Se connecter",
        "login.wrong": "Identifiant ou mot de passe incorrect.",
        "login.locked": "Trop d'essais manqués : connexion bloquée pour cet identifiant. "
                        "Réessayez dans {minutes} min (à {time} UTC).",
        "login.disabled": "Ce compte est désactivé : demandez à un administrateur.",
        "login.expired": "Votre session a expiré : reconnectez-vous.",
        "login.logged_out": "Vous êtes déconnecté.",
        "login.missing": "Saisissez votre identifiant et votre mot de passe.",
        "error.title": "Erreur",
        "error.home": "Retour à l'accueil",
        "error.403": "Accès refusé : cette page n'est pas pour votre rôle ou votre compte.",
        "error.404": "Page introuvable.",
        "error.csrf": "Formulaire refusé : il a expiré ou ne vient pas de ce poste. "
                      "Rechargez la page et recommencez.",
        "error.500": "Erreur interne : réessayez ; si cela continue, prévenez un administrateur.",
        "error.413": "Envoi trop volumineux.",
        "error.503": "La base de données du CRM ne répond pas : réessayez dans un instant ; "
                     "si cela continue, prévenez un administrateur.",
        "agent.title": "Poste : {name}",
        "agent.waiting": "En attente d'appel. Les appels s'afficheront ici.",
        "agent.not_in_config": "{name} n'est pas dans agents.yaml : aucun appel ne lui sera présenté.",
        "supervisor.title": "Supervision",
        "supervisor.agents": "Postes des agents",
        "admin.title": "Administration",
        "admin.users": "Utilisateurs du poste",
        "users.title": "Utilisateurs",
        "users.name": "Identifiant",
        "users.full_name": "Nom affiché",
        "users.role": "Rôle",
        "users.language": "Langue",
        "users.status": "État",
        "users.active": "actif",
        "users.disabled": "désactivé",
        "users.actions": "Actions",
        "users.disable": "Désactiver",
        "users.enable": "Réactiver",
        "users.new_password": "Nouveau mot de passe",
        "users.reset": "Changer le mot de passe",
        "users.add": "Ajouter un utilisateur",
        "users.password": "Mot de passe (10 caractères au moins)",
        "users.password_again": "Mot de passe (confirmation)",
        "users.create": "Créer",
        "users.added": "Utilisateur {name} créé.",
        "users.disabled_done": "{name} est désactivé ; ses sessions sont fermées.",
        "users.enabled_done": "{name} est réactivé.",
        "users.password_done": "Mot de passe de {name} changé ; ses sessions sont fermées.",
        "users.err_name": "Identifiant : 1 à 64 caractères parmi a-z, 0-9, « . », « _ », « - ».",
        "users.err_taken": "Cet identifiant existe déjà.",
        "users.err_short": "Mot de passe trop court : 10 caractères au moins.",
        "users.err_mismatch": "Les deux mots de passe diffèrent.",
        "users.err_role": "Choisissez un rôle.",
        "users.err_self": "Vous ne pouvez pas désactiver votre propre compte.",
        "users.err_unknown": "Utilisateur inconnu.",
        "users.warn_not_agent": "Attention : {name} n'est pas dans agents.yaml ; aucun appel ne lui sera présenté.",
        "form.errors": "Le formulaire contient des erreurs : voir ci-dessous.",
        "nav.password": "Mot de passe",
        "me.password_title": "Changer mon mot de passe",
        "me.current": "Mot de passe actuel",
        "me.change": "Changer le mot de passe",
        "me.err_current": "Mot de passe actuel incorrect.",
        "me.password_done": "Mot de passe changé ; vos autres sessions sont fermées.",
    },
    "en": {
        "app.title": "Agent desk",
        "nav.skip": "Skip to content",
        "nav.signed_in_as": "Signed in: {name} ({role})",
        "nav.logout": "Sign out",
        "nav.language": "Language",
        "nav.switch": "Switch",
        "nav.admin": "Administration",
        "nav.supervisor": "Supervision",
        "role.agent": "agent",
        "role.supervisor": "supervisor",
        "role.admin": "administrator",
        "login.title": "Sign in",
        "login.name": "User name",
        "login.password": "Password",
        "login.submit": "Sign in",
        "login.wrong": "User name or password wrong.",
        "login.locked": "Too many failed attempts: sign-in is locked for this name. "
                        "Try again in {minutes} min (at {time} UTC).",
        "login.disabled": "This account is disabled: ask an administrator.",
        "login.expired": "Your session expired: please sign in again.",
        "login.logged_out": "You are signed out.",
        "login.missing": "Enter your user name and your password.",
        "error.title": "Error",
        "error.home": "Back to the start page",
        "error.403": "Access denied: this page is not for your role or account.",
        "error.404": "Page not found.",
        "error.csrf": "Form refused: it expired or did not come from this desk. "
                      "Reload the page and try again.",
        "error.500": "Internal error: try again; if it goes on, tell an administrator.",
        "error.413": "What was sent is too large.",
        "error.503": "The CRM database does not answer: try again in a moment; "
                     "if it goes on, tell an administrator.",
        "agent.title": "{name}'s desk",
        "agent.waiting": "Waiting for a call. Calls will show here.",
        "agent.not_in_config": "{name} is not in agents.yaml: no call will be offered to them.",
        "supervisor.title": "Supervision",
        "supervisor.agents": "Agents' desks",
        "admin.title": "Administration",
        "admin.users": "Desk users",
        "users.title": "Users",
        "users.name": "User name",
        "users.full_name": "Display name",
        "users.role": "Role",
        "users.language": "Language",
        "users.status": "Status",
        "users.active": "active",
        "users.disabled": "disabled",
        "users.actions": "Actions",
        "users.disable": "Disable",
        "users.enable": "Enable",
        "users.new_password": "New password",
        "users.reset": "Change password",
        "users.add": "Add a user",
        "users.password": "Password (at least 10 characters)",
        "users.password_again": "Password (again)",
        "users.create": "Create",
        "users.added": "User {name} created.",
        "users.disabled_done": "{name} is disabled; their sessions are closed.",
        "users.enabled_done": "{name} is enabled again.",
        "users.password_done": "{name}'s password changed; their sessions are closed.",
        "users.err_name": "User name: 1 to 64 of a-z, 0-9, '.', '_', '-'.",
        "users.err_taken": "This user name exists already.",
        "users.err_short": "Password too short: at least 10 characters.",
        "users.err_mismatch": "The two passwords differ.",
        "users.err_role": "Choose a role.",
        "users.err_self": "You cannot disable your own account.",
        "users.err_unknown": "Unknown user.",
        "users.warn_not_agent": "Note: {name} is not in agents.yaml; no call will be offered to them.",
        "form.errors": "The form has errors: see below.",
        "nav.password": "Password",
        "me.password_title": "Change my password",
        "me.current": "Current password",
        "me.change": "Change the password",
        "me.err_current": "Current password wrong.",
        "me.password_done": "Password changed; your other sessions are closed.",
    },
}


def translate(language: str, key: str, **values: object) -> str:
    """The text for `key` in `language` (French if unknown), with {values} filled in.
    A missing key shows as itself, so a gap is visible on the page rather than fatal."""
    text = CATALOG.get(language, CATALOG["fr"]).get(key, key)
    return text.format(**values) if values else text


def pick_language(accept_language: str | None, default: str) -> str:
    """The first of our languages the browser asks for (Accept-Language, in its order of
    preference), else `default`: the sign-in page, before anyone is known."""
    choices = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        try:
            q = float(params.strip()[2:]) if params.strip().startswith("q=") else 1.0
        except ValueError:
            q = 0.0
        code = tag.strip().lower()[:2]
        if code in CATALOG and q > 0:
            choices.append((-q, position, code))
    return min(choices)[2] if choices else default
