"""Waiting for observable Vault state (an answer, an elected active member) instead of assuming it.

Right after every member of a Raft cluster restarts and is unsealed, no member is active until
an election completes; production sees this whenever all members restart. Every step that needs
the active member waits for one here, with the caller's deadline and a reason that names each
member's role when none is elected in time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from iklim.vault.api import VaultAnswerError, VaultError, VaultMember
from iklim.vault.errors import AnswerError, BootstrapError
from iklim.vault.snapshot import observe

T = TypeVar("T")


def wait(check: Callable[[], T | None], deadline: float, what: str, interval: float = 0.25) -> T:
    """Call ``check`` until it returns a truthy value; BootstrapError at ``deadline`` (monotonic s).

    A member that is unreachable or refuses is retried; one that answers something that is not
    the Vault API raises :class:`AnswerError` at once (waiting would not change it).
    """
    last = ""
    while True:
        try:
            value = check()
            if value:
                return value
        except VaultAnswerError as exc:
            raise AnswerError(str(exc)) from None
        except VaultError as exc:
            last = f": {exc}"
        if time.monotonic() > deadline:
            raise BootstrapError(f"timed out waiting for {what}{last}")
        time.sleep(interval)


def wait_for_active(members: Sequence[VaultMember], deadline: float) -> VaultMember:
    """The member that is active (elected leader, unsealed), waiting until one is elected.

    Raises BootstrapError naming every member's role when none is active by ``deadline``, and
    AnswerError when a member answers something that is not the Vault API.
    """
    seen: list[str] = []

    def active() -> VaultMember | None:
        state = observe(list(members))
        malformed = [m for m in state.members if m.malformed]
        if malformed:
            raise AnswerError(malformed[0].error)
        seen[:] = [f"{m.name} {m.role}" for m in state.members]
        leader = state.active
        return next((m for m in members if m.name == leader.name), None) if leader else None

    try:
        return wait(active, deadline, "an active member (a Raft leader elected and unsealed)", interval=0.25)
    except AnswerError:
        raise
    except BootstrapError as exc:
        raise BootstrapError(f"{exc} ({', '.join(seen) or 'no member answered'})") from None


def on_active(members: Sequence[VaultMember], deadline: float, what: str, call: Callable[[VaultMember], T]) -> T:
    """``call(active member)``, retried until ``deadline`` when it fails because leadership moved
    (or a member was briefly unreachable) between finding the active member and asking it."""
    done: list[T] = []

    def attempt() -> bool:
        done[:] = [call(wait_for_active(members, deadline))]
        return True

    wait(attempt, deadline, what)
    return done[0]
