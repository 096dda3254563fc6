"""JSON Schema of the dialplan YAML, generated from the same pydantic models
(editors can validate/complete plans with it: `ivr schema > dialplan.schema.json`)."""
from __future__ import annotations

from typing import Any

from .model import Plan

SCHEMA_ID = "https://hotline.example/schemas/dialplan.json"


def json_schema() -> dict[str, Any]:
    schema = Plan.model_json_schema(by_alias=True, mode="validation")
    # node ids are patternProperties: make editors flag ids that don't match
    schema["properties"]["nodes"]["additionalProperties"] = False
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
            **schema, "title": "Hotline dialplan"}
