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
from iklim.vault.api import VaultAnswerError, VaultError
from iklim.vault.bootstrap import KeysRejected, unseal_member
from iklim.vault.errors import AnswerError, BootstrapError

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


def test_a_refusal_that_has_not_repeated_is_marked_so() -> None:
    member = FakeMember(refusals=99)
    with pytest.raises(KeysRejected) as caught:
        unseal_member(member, ["k1", "k2", "k3"], time.monotonic() + 0.1)  # type: ignore[arg-type]
    assert caught.value.repeated is False
    with pytest.raises(KeysRejected) as repeated:
        unseal_member(FakeMember(refusals=99), ["k1", "k2", "k3"], time.monotonic() + 10)  # type: ignore[arg-type]
    assert repeated.value.repeated is True


def test_an_answer_that_is_not_the_vault_api_after_a_refusal_stays_an_answer_error() -> None:
    class Broken(FakeMember):
        def seal_status(self) -> dict[str, Any]:
            if self.offers:  # refused once already
                raise VaultAnswerError("vault-3 (https://127.0.3.3:8200): the answer is not JSON")
            return super().seal_status()

    with pytest.raises(AnswerError, match="not JSON") as caught:
        unseal_member(Broken(refusals=1), ["k1", "k2", "k3"], time.monotonic() + 10)  # type: ignore[arg-type]
    assert not isinstance(caught.value, KeysRejected)


class FakeJoiner(FakeMember):
    """FAKE: a member joining through retry_join: uninitialised until the first offer, then it
    refuses ``refusals`` offers; ``joins`` counts explicit joins."""

    def __init__(self, name: str, refusals: int) -> None:
        super().__init__(refusals)
        self.name = name
        self.joins = 0

    def health(self) -> dict[str, Any]:
        initialized = self.name == "vault-1" or bool(self.offers) or not self.sealed
        return {"initialized": initialized, "sealed": self.sealed, "standby": False, "cluster_id": "c1"}

    def join(self, leader_url: str) -> None:
        self.joins += 1


def test_a_joining_member_refused_at_the_end_of_the_grace_period_is_offered_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The grace period (0.5 s here) ends after two refusals 0.3 s apart: not final; the unseal with
    the whole deadline is accepted (the old code failed the bootstrap on the grace period's end)."""
    monkeypatch.setattr(bootstrap, "JOIN_GRACE_S", 0.5)
    seed = FakeJoiner("vault-1", refusals=0)
    seed.sealed = False
    joiner = FakeJoiner("vault-2", refusals=2)

    class Custody:
        def unseal_keys(self, threshold: int) -> list[str]:
            return ["k1", "k2", "k3"]

        def cluster_id(self) -> str:
            return "c1"

    class Plan:
        threshold = 3
        custody = Custody()

        def clients(self) -> list[FakeJoiner]:
            return [seed, joiner]

        def url(self, name: str) -> str:
            return f"https://{name}:8200"

    lines: list[str] = []
    bootstrap.unseal_and_join(Plan(), "vault-1", time.monotonic() + 10, lines.append, None)  # type: ignore[arg-type]
    assert not joiner.sealed
    assert len(joiner.offers) == 3  # two refusals, then the accepted offer
    assert "join: vault-2 joined and unsealed" in lines
