"""`documentation:` in config/engine.yaml: the wrap-up codes agents pick (contact reasons,
outcomes) and the AE due-date days per regulation. Admins edit it; pydantic checks it (the
settings loader reports errors as file:line)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .deadlines import DueRules, Regulation


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Label(_Strict):
    """What the desk shows for a code, per language (the agent's choice of fr/en)."""
    en: str = Field(min_length=1)
    fr: str = Field(min_length=1)


class RegulationDays(_Strict):
    serious_days: int = Field(15, ge=1, le=365)
    non_serious_days: int = Field(90, ge=1, le=365)


def _labels(**pairs: tuple[str, str]) -> dict[str, Label]:
    return {code: Label(en=en, fr=fr) for code, (en, fr) in pairs.items()}


class DocumentationSettings(_Strict):
    contact_reasons: dict[str, Label] = Field(default_factory=lambda: _labels(
        medical_information=("Medical information", "Information médicale"),
        product_complaint=("Product quality complaint", "Réclamation qualité produit"),
        adverse_event=("Adverse event", "Effet indésirable"),
        order_availability=("Order / availability", "Commande / disponibilité"),
        other=("Other", "Autre")))
    outcomes: dict[str, Label] = Field(default_factory=lambda: _labels(
        answered=("Answered", "Réponse donnée"),
        follow_up=("Follow-up needed", "Suivi nécessaire"),
        transferred=("Transferred", "Transféré"),
        callback_promised=("Callback promised", "Rappel promis"),
        case_opened=("Case opened", "Dossier ouvert"),
        wrong_number=("Wrong number / no request", "Erreur / sans demande")))
    # Days from day 0 to the report's due date; EU GVP and FDA 21 CFR 314.80 both say 15
    # (serious); non-serious EU reports are due in 90 days.
    regulations: dict[str, RegulationDays] = Field(default_factory=lambda: {"eu_gvp": RegulationDays()})
    default_regulation: str = "eu_gvp"

    @model_validator(mode="after")
    def _consistent(self) -> "DocumentationSettings":
        if self.default_regulation not in self.regulations:
            raise ValueError(f"default_regulation {self.default_regulation!r} is not one of regulations: "
                             f"{', '.join(self.regulations) or 'none'}")
        for what, codes in (("contact_reasons", self.contact_reasons), ("outcomes", self.outcomes)):
            if not codes:
                raise ValueError(f"{what} needs at least one code")
            bad = [c for c in codes if not c.replace("_", "").replace("-", "").isalnum()]
            if bad:
                raise ValueError(f"{what}: codes {', '.join(map(repr, bad))} must be letters, digits, _ or -")
        return self

    def due_rules(self) -> DueRules:
        return DueRules({name: Regulation(r.serious_days, r.non_serious_days) for name, r in self.regulations.items()},
                        self.default_regulation)

    def codes(self) -> "WrapUpCodes":
        from .documentation import WrapUpCodes
        return WrapUpCodes(tuple(self.contact_reasons), tuple(self.outcomes))
