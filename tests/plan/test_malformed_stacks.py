"""A stack file of the wrong shape is a one-line ComposeError naming the stack and service (found
by a fresh-user review: lists, scalars and non-numbers used to raise AttributeError/ValueError)."""

from __future__ import annotations

from typing import Any

import pytest

from iklim.plan.compose import desired_state
from iklim.plan.interpolate import ComposeError


def _doc(service: Any) -> dict[str, Any]:
    return {"version": "3.9", "services": {"svc": service}}


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ({"services": ["a"]}, "stack s: services: not a mapping"),
        (_doc(["x", "y"]), "stack s: service svc: not a mapping"),
        (_doc(None), "stack s: service svc: not a mapping"),
        (_doc({"image": "a:1", "healthcheck": ["x"]}), "stack s: service svc: "),
        (_doc({"image": "a:1", "healthcheck": {"test": ["CMD", "true"], "retries": "five"}}), "stack s: service svc: "),
    ],
)
def test_a_malformed_stack_is_one_line_naming_the_service(document: dict[str, Any], words: str) -> None:
    with pytest.raises(ComposeError) as caught:
        desired_state({"s": document}, {}, {}, None)
    assert str(caught.value).startswith(words) and "\n" not in str(caught.value)


def test_a_duplicate_key_is_refused_with_file_line(tmp_path: Any) -> None:
    """PyYAML keeps the last of two equal keys; docker stack deploy refuses the file, so plan does."""
    import shutil
    from pathlib import Path

    from iklim.model.loader import load_environment
    from iklim.plan.targets import stack_documents
    from iklim.render.stacks import STACK_FILES

    repo = Path(__file__).resolve().parents[2]
    env = load_environment(repo / "environments" / "prod.yaml")
    for file in STACK_FILES.values():
        shutil.copy(repo / file, tmp_path / file)
    assert set(stack_documents(tmp_path, env)) == {env.stacks.infra, env.stacks.vault}
    path = tmp_path / STACK_FILES["vault"]
    lines = path.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("    image:"))
    lines.insert(at + 1, lines[at])
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError) as caught:
        stack_documents(tmp_path, env)
    where = f"{STACK_FILES['vault']}:{at + 2}:5"
    assert str(caught.value) == f"{where}: duplicate key 'image' (docker stack deploy refuses it)"


def test_an_unset_variable_is_collected_and_blank() -> None:
    """As the CLI does: a blank string and a warning; a default or a set value is not reported."""
    document = _doc({"image": "a:${TAG}", "environment": {"A": "${SET}", "B": "${D:-x}", "C": "$$HOME"}})
    desired = desired_state({"s": document}, {}, {"SET": "1"}, None)
    assert desired.unset == {"s": ["TAG"]}
    assert desired.services["s_svc"]["image"] == "a:"
    assert desired_state({"s": document}, {}, {"SET": "1", "TAG": "2"}, None).unset == {}
