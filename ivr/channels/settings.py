"""Settings of the non-voice channels: `channels:` in engine.yaml (ivr/config.py)."""
from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# Defaults for a pharma service center; extend per language in engine.yaml.
DEFAULT_SAFETY_PHRASES: dict[str, list[str]] = {
    "en": ["side effect", "adverse reaction", "adverse event", "allergic reaction", "overdose"],
    "de": ["Nebenwirkung", "unerwünschte Wirkung", "allergische Reaktion", "Überdosis"],
    "fr": ["effet indésirable", "effet secondaire", "réaction allergique", "surdosage"],
}


class EmailSettings(_Strict):
    imap_host: str
    imap_port: int = 993
    imap_tls: bool = True                 # False: plain IMAP (loopback test servers only)
    user: str
    password_env: str = "IVR_EMAIL_PASSWORD"   # the password never sits in a file
    mailbox: str = "INBOX"
    poll_seconds: float = Field(30.0, gt=0)    # when the server offers no IDLE
    idle_seconds: float = Field(290.0, gt=0)   # IDLE is renewed before servers drop it (RFC 2177)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_user: str = ""
    smtp_password_env: str = "IVR_SMTP_PASSWORD"
    from_address: str
    queue: str = "general"
    priority: int = 0
    pv_queue: str = "pharmacovigilance"
    pv_priority: int = 10
    max_message_bytes: int = Field(60_000_000, gt=0)
    max_attachment_bytes: int = Field(10_000_000, gt=0)
    ack: bool = True
    ack_per_sender: int = Field(3, ge=0)         # acknowledgements per sender per window
    ack_window_seconds: float = Field(3600.0, gt=0)
    ack_subject: str = "We have received your message"
    ack_template: str = ("Thank you for your message \"{subject}\". It has been registered under "
                         "the reference {reference}; please keep the reference in the subject "
                         "when you write about it again.")
    safety_phrases: dict[str, list[str]] = Field(default_factory=lambda: dict(DEFAULT_SAFETY_PHRASES))

    def password(self) -> str:
        value = os.environ.get(self.password_env)
        if value is None:
            raise ValueError(f"channels.email: the IMAP password is read from the environment "
                             f"variable {self.password_env}, which is not set")
        return value

    def smtp_password(self) -> str | None:
        return os.environ.get(self.smtp_password_env) if self.smtp_user else None


class SmsWebhookSettings(_Strict):
    """A provider-neutral HTTP endpoint for SMS gateways (served by the engine: see sms.py)."""
    host: str = "127.0.0.1"
    port: int = Field(8089, ge=0, le=65535)    # 0: any free port (tests)
    path: str = "/sms/inbound"
    secret_env: str = "IVR_SMS_WEBHOOK_SECRET"   # HMAC-SHA256 key, never in a file
    max_request_bytes: int = Field(64_000, gt=0)
    # A flood from one number is answered 429 (Retry-After): the gateway keeps the messages
    # and sends them again later, so nothing is lost and the CRM is not flooded.
    max_per_sender: int = Field(30, gt=0)
    window_seconds: float = Field(60.0, gt=0)

    def secret(self) -> bytes:
        value = os.environ.get(self.secret_env)
        if not value:
            raise ValueError(f"channels.sms.webhook: the shared secret is read from the environment "
                             f"variable {self.secret_env}, which is not set")
        return value.encode()


class SmsSettings(_Strict):
    """SMS: Asterisk hands incoming SIP MESSAGEs to the engine (extensions_hotline.conf
    [hotline-sms]); replies go out through AMI MessageSend. Gateways may post to the webhook."""
    # MessageSend destination of a reply; {number} is the customer's number.
    reply_uri: str = "pjsip:sms-trunk/sip:{number}@sms-provider.invalid"
    from_uri: str = "sip:hotline@localhost"      # the From of replies (the hotline's number)
    queue: str = "general"
    priority: int = 0
    pv_queue: str = "pharmacovigilance"
    pv_priority: int = 10
    max_body_chars: int = Field(2000, gt=0)     # longer texts are cut, with a note
    # A longer reply goes out as several messages of at most reply_part_chars, each "(i/n)";
    # Asterisk's res_pjsip_messaging keeps ~1 kB per MESSAGE body, so a part stays well below it.
    max_reply_chars: int = Field(1600, gt=0)
    reply_part_chars: int = Field(480, ge=40, le=900)
    safety_phrases: dict[str, list[str]] = Field(default_factory=lambda: dict(DEFAULT_SAFETY_PHRASES))
    asterisk: bool = True                        # read SIP MESSAGEs handed over by Asterisk
    webhook: SmsWebhookSettings | None = None    # None: no HTTP endpoint


class FaxSettings(_Strict):
    """Fax in: Asterisk's ReceiveFAX ([hotline-fax] in extensions_hotline.conf) writes a TIFF;
    the engine turns it into a PDF attached to a task (channel "fax")."""
    # Where the engine reads the TIFFs: Asterisk's /var/spool/asterisk/fax/hotline as the
    # engine sees it (the same path on one host; the chroot's copy in the sandbox).
    spool_dir: str = "/var/spool/asterisk/fax/hotline"
    queue: str = "general"
    priority: int = 0
    max_pdf_bytes: int = Field(20_000_000, gt=0)   # larger PDFs are refused with a reason
    keep_tiff: bool = False                         # delete the TIFF once the task is stored


class VoicemailSettings(_Strict):
    """Voice messages: a queue's divert destination with `voicemail: true` records the caller
    (AGI RECORD FILE); the message becomes a callback task (channel "voicemail")."""
    # Where Asterisk writes the recordings, and the same folder as the engine sees it.
    asterisk_dir: str = "/var/spool/asterisk/hotline-voicemail"
    spool_dir: str = "/var/spool/asterisk/hotline-voicemail"
    due_minutes: int = Field(120, gt=0)          # call back within (the channel's SL: 2 h)
    queue: str | None = None                     # the callback tasks' queue; None: the call's
    transcribe: bool = True                      # with the speech model, when one is loaded
    max_audio_bytes: int = Field(20_000_000, gt=0)
    pv_queue: str = "pharmacovigilance"
    pv_priority: int = 10
    safety_phrases: dict[str, list[str]] = Field(default_factory=lambda: dict(DEFAULT_SAFETY_PHRASES))


class ChatSettings(_Strict):
    """The public page (web chat + web form), served by the engine on its own port: it is
    where TaskHub lives, so a visitor's line reaches the agent's desk in one hop."""
    host: str = "127.0.0.1"               # behind the company's reverse proxy (TLS there)
    port: int = Field(8090, ge=1, le=65535)
    embed_origins: list[str] = Field(default_factory=list)   # CSP frame-ancestors ('self' always)
    # An iframe on another site gets its cookie only with "none" (and HTTPS: cookie_secure);
    # serving the page under the company's own domain (a proxy path) keeps "lax".
    cookie_samesite: Literal["lax", "strict", "none"] = "lax"
    cookie_secure: bool = False
    queue: str = "general"
    priority: int = 0
    form_queue: str = ""                  # forms' queue; "" = queue
    pv_queue: str = "pharmacovigilance"
    pv_priority: int = 10
    topics: list[str] = Field(default_factory=lambda: ["product question", "order", "side effect", "other"])
    display_names: dict[str, str] = Field(default_factory=dict)  # agent → what visitors see
    default_display_name: str = "Agent"
    language: Literal["fr", "en"] = "en"  # the page's language when the visitor's browser names none we offer
    answer_within_s: float = Field(60.0, gt=0)     # then the visitor may leave an e-mail address
    email_answer_hours: int = Field(8, ge=1)       # what the visitor is promised then
    leave_grace_s: float = Field(30.0, gt=0)       # page closed this long: the visitor has left
    max_message_chars: int = Field(4_000, gt=0)
    max_form_chars: int = Field(20_000, gt=0)
    per_address_per_minute: int = Field(30, ge=1)
    per_session_per_minute: int = Field(12, ge=1)
    open_chats_per_address: int = Field(3, ge=1)
    safety_phrases: dict[str, list[str]] = Field(default_factory=lambda: dict(DEFAULT_SAFETY_PHRASES))


class ChannelsSettings(_Strict):
    email: EmailSettings | None = None   # None: no e-mail channel
    sms: SmsSettings | None = None       # None: no SMS channel
    fax: FaxSettings | None = None       # None: no fax channel
    voicemail: VoicemailSettings | None = None   # None: no voice messages
    chat: ChatSettings | None = None     # None: no public chat/form page
    # E-mail and the web chat in their own process (README "Worker process"); None: yes when
    # either is configured. False keeps them in the engine's process.
    worker: bool | None = None

    def worker_enabled(self) -> bool:
        return (self.email is not None or self.chat is not None) and self.worker is not False
