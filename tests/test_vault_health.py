"""One meaning of Vault's ``/v1/sys/health`` for the bootstrap (body) and ``iklim status`` (code)."""

from __future__ import annotations

import itertools

from iklim.vault.health import HEALTH_CODES, health_state
from iklim.vault.snapshot import MemberState


def test_body_states_are_the_status_code_states() -> None:
    seen = {health_state(*flags) for flags in itertools.product((False, True), repeat=3)}
    assert seen == {"uninitialised", "sealed", "standby", "active"}
    assert seen <= set(HEALTH_CODES.values())


def test_snapshot_role_reads_the_shared_meaning() -> None:
    assert MemberState("vault-1", reachable=False).role == "unreachable"
    assert MemberState("vault-1", reachable=True, initialized=False).role == "uninitialised"
    assert MemberState("vault-1", reachable=True, initialized=True, sealed=True).role == "sealed"
    assert MemberState("vault-1", reachable=True, initialized=True, sealed=False, standby=True).role == "standby"
    assert MemberState("vault-1", reachable=True, initialized=True, sealed=False).role == "active"
    assert (HEALTH_CODES[501], HEALTH_CODES[503], HEALTH_CODES[429], HEALTH_CODES[200]) == (
        "uninitialised",
        "sealed",
        "standby",
        "active",
    )
