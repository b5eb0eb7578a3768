"""When a member's refusal of the unseal keys is final (no cluster: a FAKE member object that
answers like OpenBao's ``sys/unseal``, to drive the retry policy of ``unseal_member``).

A joining member can refuse the right keys once while its Raft join is in flight; one CI run
failed the whole lab on that single refusal. A refusal that repeats is still final and names the
engine's words.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from iklim.vault import bootstrap
from iklim.vault.api import VaultError
from iklim.vault.bootstrap import KeysRejected, unseal_member
from iklim.vault.errors import BootstrapError

REFUSAL = "vault-3 (https://127.0.3.3:8200): unseal failed: error decrypting challenge: message authentication failed"


class FakeMember:
    """FAKE: a sealed, initialised member that refuses the first ``refusals`` key offers."""

    name = "vault-3"

    def __init__(self, refusals: int, threshold: int = 3) -> None:
        self.refusals, self.threshold = refusals, threshold
        self.parts: list[str] = []
        self.sealed = True
        self.offers: list[float] = []

    def seal_status(self) -> dict[str, Any]:
        return {"sealed": self.sealed, "initialized": True}

    def reset_unseal(self) -> None:
        self.parts = []

    def unseal(self, key: str) -> dict[str, Any]:
        self.parts.append(key)
        if len(self.parts) == self.threshold:
            self.offers.append(time.monotonic())
            if len(self.offers) <= self.refusals:
                self.parts = []
                raise VaultError(REFUSAL)
            self.sealed = False
        return {"sealed": self.sealed}


@pytest.fixture(autouse=True)
def _quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bootstrap, "REJECTION_SPACING_S", 0.3)


def test_one_refusal_then_acceptance_unseals() -> None:
    member = FakeMember(refusals=1)
    unseal_member(member, ["k1", "k2", "k3"], time.monotonic() + 10)  # type: ignore[arg-type]
    assert not member.sealed
    assert len(member.offers) == 2
    assert member.offers[1] - member.offers[0] >= 0.3  # offered again only after the spacing


def test_refusals_that_repeat_are_final_and_name_the_engine_words() -> None:
    member = FakeMember(refusals=99)
    with pytest.raises(KeysRejected, match="vault-3 rejected the unseal keys 3 times") as caught:
        unseal_member(member, ["k1", "k2", "k3"], time.monotonic() + 10)  # type: ignore[arg-type]
    assert "message authentication failed" in str(caught.value)
    assert len(member.offers) == 3


def test_a_refusal_then_the_deadline_is_still_called_a_refusal() -> None:
    member = FakeMember(refusals=99)
    with pytest.raises(KeysRejected, match="vault-3 rejected the unseal keys: .*authentication failed"):
        unseal_member(member, ["k1", "k2", "k3"], time.monotonic() + 0.1)  # type: ignore[arg-type]
    assert 1 <= len(member.offers) < 3  # the deadline came before the third refusal


def test_other_errors_are_not_refusals() -> None:
    class Unreachable(FakeMember):
        def seal_status(self) -> dict[str, Any]:
            raise VaultError("vault-3 (https://127.0.3.3:8200) is unreachable")

    with pytest.raises(BootstrapError, match="timed out waiting for vault-3 to unseal: .*unreachable") as caught:
        unseal_member(Unreachable(refusals=0), ["k1"], time.monotonic() + 0.5)  # type: ignore[arg-type]
    assert not isinstance(caught.value, KeysRejected)
