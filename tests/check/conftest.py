"""Helpers for the checker's tests: write snippets to files and run the rules on them."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from iklim.check.documents import load
from iklim.check.engine import Result, run
from iklim.check.policy import Policy
from iklim.check.rules import RULES

Runner = Callable[..., Result]


@pytest.fixture
def check_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Runner:
    """check_files({"stack.yml": text, ...}) -> Result, with the seed's policy (no model)."""
    monkeypatch.chdir(tmp_path)

    def runner(files: dict[str, str], policy: Policy | None = None, no_ignore: bool = False) -> Result:
        for name, text in files.items():
            os.makedirs(os.path.dirname(name) or ".", exist_ok=True)
            Path(name).write_text(text)
        docs = load(list(files))
        return run(docs, policy or Policy(app_subnet="10.0.1.0/24", db_subnet="10.0.2.0/24"), RULES, no_ignore)

    return runner
