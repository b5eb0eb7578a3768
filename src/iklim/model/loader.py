"""Load an environment file into :class:`Environment`, with one ``file:line`` error per problem.

YAML is composed into nodes first so that every key path keeps the line it was written on; then
pydantic validates the plain data and :mod:`iklim.model.semantics` the relations between fields.
Errors from both are mapped back to lines through the same path index.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from iklim.model.boundaries import boundary_warnings
from iklim.model.bounded import Unusable, read_text
from iklim.model.schema import Environment
from iklim.model.semantics import semantic_problems
from iklim.model.yamlcompose import compose

PathKey = tuple[str | int, ...]
_SCALARS = yaml.SafeLoader("")  # only its constructor is used, for scalar nodes


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a model file, at a line (1-based) and column (1-based)."""

    path: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return _one_line(f"{self.path}:{self.line}:{self.column}: {self.message}")


def _one_line(text: str) -> str:
    """``text`` with every non-printable character escaped: a message never spans lines."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


class ModelError(Exception):
    """The model file is unusable; ``problems`` lists every reason, each with its line."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


class _Positions:
    """Line/column of every key path in a composed YAML document."""

    def __init__(self) -> None:
        self.value: dict[PathKey, tuple[int, int]] = {}
        self.key: dict[PathKey, tuple[int, int]] = {}

    def locate(self, loc: PathKey) -> tuple[int, int]:
        """The position of the deepest existing prefix of ``loc`` (the key line when it exists)."""
        for end in range(len(loc), -1, -1):
            prefix = loc[:end]
            if prefix in self.key:
                return self.key[prefix]
            if prefix in self.value:
                return self.value[prefix]
        return (1, 1)


def _mark(node: yaml.Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def _to_data(node: yaml.Node, here: PathKey, pos: _Positions, source: str) -> Any:
    pos.value[here] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            if key == "<<":
                raise ModelError([Problem(source, *_mark(key_node), "merge keys are not allowed in a model")])
            if key in result:
                raise ModelError([Problem(source, *_mark(key_node), f"duplicate key {key!r}")])
            pos.key[here + (key,)] = _mark(key_node)
            result[key] = _to_data(value_node, here + (key,), pos, source)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_to_data(item, here + (i,), pos, source) for i, item in enumerate(node.value)]
    try:
        return _SCALARS.construct_object(node)
    except (yaml.YAMLError, ValueError) as exc:  # a bad !!tag, a 5,000-digit integer, ...
        problem = getattr(exc, "problem", None) or str(exc)
        if isinstance(exc, ValueError) and "digits" in problem:
            problem = f"number too large ({len(str(node.value))} characters)"
        raise ModelError([Problem(source, *_mark(node), "invalid value: " + " ".join(problem.split())[:200])]) from None


def _compose(text: str, source: str) -> yaml.Node:
    try:
        node = compose(text, source)
    except Unusable as exc:
        raise _unusable(exc) from None
    if node is None:
        raise ModelError([Problem(source, 1, 1, "the model file is empty")])
    return node


def _describe(error: dict[str, Any]) -> str:
    loc = ".".join(str(p) for p in error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"unknown key {loc!r}"
    if kind == "missing":
        return f"missing key {loc!r}"
    if kind == "string_pattern_mismatch":
        shown = repr(error["input"])
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        return f"{loc}: {shown} is not allowed here (expected {error['ctx']['pattern']})"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{loc}: {message}"


Warn = Callable[[Problem], None]


def parse_environment(text: str, source: str, warn: Warn | None = None) -> Environment:
    """Validate model ``text`` read from ``source``; raise :class:`ModelError` listing every problem.
    A sound model with placeholder values (documentation address ranges) is returned, each such
    value passed to ``warn`` as a :class:`Problem` first."""
    pos = _Positions()
    data = _to_data(_compose(text, source), (), pos, source)
    if not isinstance(data, dict):
        raise ModelError([Problem(source, 1, 1, "the model must be a mapping of keys")])
    try:
        env = Environment.model_validate(data)
    except ValidationError as exc:
        problems = [Problem(source, *pos.locate(tuple(err["loc"])), _describe(dict(err))) for err in exc.errors()]
        raise ModelError(problems) from None
    found = semantic_problems(env)
    if found:
        raise ModelError([Problem(source, *pos.locate(loc), f"{'.'.join(map(str, loc))}: {msg}") for loc, msg in found])
    if warn is not None:
        for loc, msg in boundary_warnings(env):
            warn(Problem(source, *pos.locate(loc), f"{'.'.join(map(str, loc))}: {msg}"))
    return env


def load_environment(path: str | Path, warn: Warn | None = None) -> Environment:
    """Read and validate the model file at ``path`` (``warn``: see :func:`parse_environment`).

    Only a regular, strict UTF-8 file within the bounds of :mod:`iklim.model.bounded` is read
    (a FIFO, a device, a directory, an unreadable or oversized file is a :class:`ModelError`).
    """
    source = str(path)
    try:
        text = read_text(path, source)
    except Unusable as exc:
        raise _unusable(exc) from None
    return parse_environment(text, source, warn)


def _unusable(exc: Unusable) -> ModelError:
    message = exc.message.replace("cannot read:", "cannot read model:", 1)
    return ModelError([Problem(exc.path, max(exc.line, 1), max(exc.column, 1), message)])
