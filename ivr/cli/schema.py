"""`ivr schema`: the JSON Schema of dialplan YAML files, from the same models that load them."""
from __future__ import annotations

import json

import click

from ivr.dialplan.schema import json_schema


@click.command("schema")
@click.option("-o", "--output", type=click.File("w"), default="-")
def schema_cmd(output) -> None:  # type: ignore[no-untyped-def]
    """Print the JSON Schema of dialplan YAML files (for editors)."""
    json.dump(json_schema(), output, indent=2, ensure_ascii=False)
    output.write("\n")
