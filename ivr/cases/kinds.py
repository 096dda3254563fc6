"""The kinds of case and their fields, validated one message per field.

Values are kept JSON-ready (dates as YYYY-MM-DD text) because the store keeps them as JSON.
An adverse-event case has no required field: an AE is recorded with whatever the caller
could give, and the case shows which of the four minimum criteria are still missing."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field as dataclass_field
from datetime import date
from typing import Any

SERIOUSNESS = ("death", "life_threatening", "hospitalisation", "disability", "congenital_anomaly",
               "medically_important")
# Each criterion of a valid AE report, and the fields any one of which satisfies it. A
# reporter is identifiable by name/qualification or by contact details (GVP module VI).
AE_CRITERIA: dict[str, tuple[str, ...]] = {
    "patient": ("patient",),
    "reporter": ("reporter", "reporter_contact"),
    "product": ("product",),
    "reaction": ("reaction",),
}
_TRUE = {"true", "yes", "y", "1", "on", "oui"}
_FALSE = {"false", "no", "n", "0", "off", "non", ""}
MAX_TEXT = 20_000


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str = "text"              # text | bool | date | list | seriousness
    required: bool = False
    past: bool = False              # a date that cannot be after today


@dataclass(frozen=True)
class FieldProblem:
    field: str
    message: str                    # English, for the CLI and logs
    code: str = "invalid"           # the desk shows its own words for it (key `problem.<code>`)
    params: Mapping[str, Any] = dataclass_field(default_factory=dict)   # the code's {placeholders}

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class FieldValueError(ValueError):
    """A value refused by its field's type, with a code and values for translated forms."""

    def __init__(self, message: str, code: str, **params: Any) -> None:
        super().__init__(message)
        self.code, self.params = code, params


def problem_of(name: str, exc: ValueError) -> FieldProblem:
    return FieldProblem(name, str(exc), getattr(exc, "code", "invalid"), getattr(exc, "params", {}))


KINDS: dict[str, tuple[FieldSpec, ...]] = {
    "medinfo": (FieldSpec("question", required=True), FieldSpec("product"), FieldSpec("answer"),
                FieldSpec("kb_articles", "list"), FieldSpec("follow_up", "bool")),
    "complaint": (FieldSpec("product", required=True), FieldSpec("batch"),
                  FieldSpec("expiry", "date"), FieldSpec("description", required=True),
                  FieldSpec("sample_available", "bool")),
    "adverse_event": (FieldSpec("patient"), FieldSpec("reporter"), FieldSpec("reporter_contact"),
                      FieldSpec("product"), FieldSpec("reaction"),
                      FieldSpec("seriousness", "seriousness"), FieldSpec("onset_date", "date", past=True),
                      FieldSpec("info_received_on", "date", past=True), FieldSpec("regulation"),
                      FieldSpec("narrative"), FieldSpec("transcript"), FieldSpec("language")),
}


def missing_criteria(fields: Mapping[str, Any]) -> list[str]:
    """The minimum criteria of a valid AE report not yet held, in their usual order."""
    return [c for c, names in AE_CRITERIA.items() if not any(fields.get(n) for n in names)]


def is_serious(fields: Mapping[str, Any]) -> bool:
    return bool(fields.get("seriousness"))


def validate_fields(kind: str, fields: Mapping[str, Any], today: date) -> tuple[dict[str, Any], list[FieldProblem]]:
    """(clean fields, problems). Clean: stripped, typed, JSON-ready; empty values dropped.
    Problems: one per bad field, saying what is wrong and what is expected."""
    if kind not in KINDS:
        return {}, [FieldProblem("kind", f"{kind!r} is not a case kind; use one of {', '.join(KINDS)}")]
    specs = {s.name: s for s in KINDS[kind]}
    clean: dict[str, Any] = {}
    problems: list[FieldProblem] = []
    for name, raw in fields.items():
        spec = specs.get(name)
        if spec is None:
            problems.append(FieldProblem(name, f"not a field of a {kind} case; known: {', '.join(specs)}"))
            continue
        try:
            value = convert_value(spec, raw, today)
        except ValueError as exc:
            problems.append(problem_of(name, exc))
            continue
        if value is not None and value != "" and value != []:     # empty: the field is cleared
            clean[name] = value
    for spec in specs.values():
        if spec.required and spec.name not in clean and not any(p.field == spec.name for p in problems):
            problems.append(FieldProblem(spec.name, "required; please fill it in", "required"))
    return clean, problems


def convert_value(spec: FieldSpec, raw: Any, today: date) -> Any:
    if raw is None:
        return None
    if spec.type == "text":
        if not isinstance(raw, (str, int, float)) or isinstance(raw, bool):
            raise FieldValueError("expected text", "expected_text")
        text = str(raw).strip()
        if len(text) > MAX_TEXT:
            raise FieldValueError(f"too long ({len(text)} characters; at most {MAX_TEXT})", "too_long",
                                  length=len(text), limit=MAX_TEXT)
        return text
    if spec.type == "bool":
        if isinstance(raw, bool):
            return raw
        word = str(raw).strip().lower()
        if word in _TRUE | _FALSE:
            return word in _TRUE
        raise FieldValueError(f"{raw!r} is not yes or no", "not_yes_no", value=raw)
    if spec.type == "date":
        return _date(spec, raw, today)
    items = _items(raw)
    if spec.type == "seriousness":
        bad = [i for i in items if i not in SERIOUSNESS]
        if bad:
            raise FieldValueError(f"{', '.join(bad)}: not a seriousness criterion; use {', '.join(SERIOUSNESS)}",
                                  "not_configured", value=", ".join(bad), allowed=", ".join(SERIOUSNESS))
        return [s for s in SERIOUSNESS if s in items]        # canonical order, no repeats
    return list(dict.fromkeys(items))


def _items(raw: Any) -> list[str]:
    if isinstance(raw, str):
        return [p.strip() for p in raw.split(",") if p.strip()]
    if isinstance(raw, (list, tuple)) and all(isinstance(i, (str, int)) for i in raw):
        return [str(i).strip() for i in raw if str(i).strip()]
    raise FieldValueError("expected a list (or comma-separated text)", "expected_list")


def _date(spec: FieldSpec, raw: Any, today: date) -> str | None:
    if isinstance(raw, date):
        value = raw
    else:
        text = str(raw).strip()
        if not text:
            return None
        try:
            value = date.fromisoformat(text)
        except ValueError:
            raise FieldValueError(f"{text!r} is not a date; write it as YYYY-MM-DD", "not_a_date",
                                  value=text) from None
    if spec.past and value > today:
        raise FieldValueError(f"{value.isoformat()} is in the future (today is {today.isoformat()})",
                              "in_future", value=value.isoformat(), today=today.isoformat())
    return value.isoformat()
