"""``iklim schema``: the model's JSON Schema, for editor completion and validation."""

from __future__ import annotations

import json

import click

from iklim.model.schema import Environment


def environment_schema() -> dict[str, object]:
    schema = Environment.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "iklim environment model"
    return schema


@click.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of environment models (environments/*.yaml).

    \b
    Example:
      iklim schema > iklim.schema.json
      # then in the model file:  # yaml-language-server: $schema=../iklim.schema.json
    """
    click.echo(json.dumps(environment_schema(), indent=2, sort_keys=True))
