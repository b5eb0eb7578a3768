"""``iklim schema``: the model's JSON Schema, for editor completion and validation."""

from __future__ import annotations

import json
import sys

import click

from iklim.model.loader import ModelError, load_environment
from iklim.model.schema import Environment


def load_or_exit(env_path: str) -> Environment:
    """The model for a command: on a bad model, one ``error: file:line:col: ...`` per problem on
    stderr and exit code 2, before the command has done anything. Placeholder values give one
    ``warning: file:line:col: ...`` each on stderr and do not stop the command."""
    try:
        return load_environment(env_path, lambda problem: click.echo(f"warning: {problem}", err=True))
    except ModelError as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        sys.exit(2)


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
