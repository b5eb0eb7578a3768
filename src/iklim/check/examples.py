"""The failing and passing examples in a rule's docstring, read as data.

The form (reStructuredText literal blocks, so ``iklim explain`` prints them as written)::

    Failing example::                          <- a compose file (checked as ``stack.yml``)
    Failing example (config/apisix/config.yaml)::   <- the file's path in a repository tree

        <the file, indented by 4 spaces; blank lines allowed>

    Passing example::

        ...

A rule has at least one failing and one passing example. The failing example yields at least
one finding of the rule, the passing example none (``tests/check/test_explain_examples.py`` runs
every example of every rule through ``iklim check``). A line that starts like a header but does
not match the form is an error, so a typo cannot hide an example from the test.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

DEFAULT_PATH = "stack.yml"
_HEADER = re.compile(r"(?P<kind>Failing|Passing) example(?: \((?P<path>[\w.@+-]+(?:/[\w.@+-]+)*)\))?::")
_STARTS = re.compile(r"(?:Failing|Passing) example", re.IGNORECASE)
_LANGS = {".yml": "yaml", ".yaml": "yaml", ".tf": "hcl", ".conf": "nginx", ".sh": "sh"}


@dataclass(frozen=True)
class Example:
    """One example: ``passing`` or not, the file's relative ``path`` and its ``text``."""

    passing: bool
    path: str
    text: str

    @property
    def language(self) -> str:
        """The fenced-code language for the file (``yaml``, ``hcl``, ``nginx``, ``sh``, else ``text``)."""
        suffix = "." + self.path.rsplit(".", 1)[-1] if "." in self.path else ""
        return _LANGS.get(suffix.lower(), "text")


class ExampleError(ValueError):
    """A docstring whose examples do not follow the form: the message names the line."""


def _block(lines: list[str], start: int) -> tuple[str, int]:
    """The indented block after a header at ``start - 1``: (dedented text, index after it)."""
    end = start
    while end < len(lines) and (not lines[end].strip() or lines[end].startswith("    ")):
        end += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return textwrap.dedent("\n".join(lines[start:end])).strip("\n") + "\n", end


def examples(doc: str) -> list[Example]:
    """Every example in ``doc`` in order.

    Raises :class:`ExampleError` for a malformed header, an empty block, or a docstring without
    a failing or a passing example.
    """
    lines = textwrap.dedent(doc).splitlines()
    out: list[Example] = []
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if not _STARTS.match(line):
            i += 1
            continue
        match = _HEADER.fullmatch(line)
        if match is None:
            raise ExampleError(f"docstring line {i + 1}: {line!r} is not 'Failing|Passing example[ (path)]::'")
        text, i = _block(lines, i + 1)
        if not text.strip():
            raise ExampleError(f"docstring line {i}: {line!r} has no indented example after it")
        out.append(Example(match["kind"] == "Passing", match["path"] or DEFAULT_PATH, text))
    if not any(e.passing for e in out) or all(e.passing for e in out):
        raise ExampleError("a rule's docstring needs a failing and a passing example")
    return out


def description(doc: str) -> str:
    """The docstring up to its first example: what the rule requires and why."""
    lines = textwrap.dedent(doc).strip().splitlines()
    cut = next((i for i, line in enumerate(lines) if _STARTS.match(line.strip())), len(lines))
    return "\n".join(lines[:cut]).strip()


def markdown(doc: str) -> str:
    """The docstring as Markdown: the description, then each example as a fenced code block."""
    parts = [description(doc)]
    for example in examples(doc):
        title = "Failing" if not example.passing else "Passing"
        where = f" (`{example.path}`)" if example.path != DEFAULT_PATH else ""
        parts.append(f"{title} example{where}:\n\n```{example.language}\n{example.text}```")
    return "\n\n".join(parts) + "\n"
