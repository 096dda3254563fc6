"""Personal data in logs: phone numbers are masked, transcripts are never logged."""


def mask_number(number: str | None) -> str:
    """'0601020304' → '******0304': enough to tell calls apart, not to call anyone."""
    if not number:
        return "(unknown)"
    return "*" * max(0, len(number) - 4) + number[-4:]
