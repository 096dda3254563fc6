"""Non-voice channels: adapters that turn contacts into CRM records and ACD tasks
(acd.center.ContactCenter). E-mail: email_in.py (IMAP in, SMTP acknowledgement)."""
