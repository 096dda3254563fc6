"""Case rules (pure): the three kinds of documented contacts a pharmaceutical hotline keeps
(medical information, product quality complaint, adverse event), their validation, the
pharmacovigilance clock (day 0, due date) and the audit trail. No I/O, no clock: `now` is
passed in. The CRM store (ivr/crm/cases.py) persists what these functions decide."""
from .audit import AuditEntry, diff
from .case import STATUSES, Case, CaseError, close, open_new, refuse_delete, reopen, update
from .deadlines import Clock, DueRules, Regulation, deadlines, is_overdue, worklist_order
from .kinds import AE_CRITERIA, KINDS, SERIOUSNESS, FieldProblem, missing_criteria, validate_fields

__all__ = ["AE_CRITERIA", "AuditEntry", "Case", "Clock", "CaseError", "DueRules", "FieldProblem", "KINDS",
           "Regulation", "SERIOUSNESS", "STATUSES", "close", "deadlines", "diff", "is_overdue", "missing_criteria",
           "open_new", "refuse_delete", "reopen", "update", "validate_fields", "worklist_order"]
