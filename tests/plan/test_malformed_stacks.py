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
