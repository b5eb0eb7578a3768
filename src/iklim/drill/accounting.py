"""Jepsen-style accounting of a write history against a final read.

Follows ``checker/set`` and ``checker/total-queue`` of Jepsen (jepsen-io/jepsen
``jepsen/src/jepsen/checker.clj``, ``doc/tutorial/08-set.md``): every write carries a unique value;
after the faults are healed and the cluster has settled, one read returns what survived.

- ``attempted``: writes invoked; ``acknowledged``: completed ``ok``; ``failed``: ``fail``;
  ``indeterminate``: ``info`` or never completed.
- ``lost``: acknowledged but absent from the final read (the number a drill must keep at 0).
- ``recovered``: indeterminate but present (the write happened after all).
- ``unexpected``: present but never attempted, or attempted and definitely failed (a ``fail``
  that was applied means the client's error was wrong).
- ``duplicated``: present more than once (queues, lists).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from iklim.drill.history import Op, pair


@dataclass(frozen=True)
class Accounting:
    """The counts and, for the failures, the values themselves (sorted; capped in reports)."""

    attempted: int
    acknowledged: int
    failed: int
    indeterminate: int
    read: int
    lost: tuple[str, ...]
    recovered: tuple[str, ...]
    unexpected: tuple[str, ...]
    duplicated: tuple[str, ...]

    @property
    def valid(self) -> bool:
        """True when no acknowledged write is lost and nothing unexpected or duplicated was read."""
        return not (self.lost or self.unexpected or self.duplicated)

    def as_dict(self, limit: int = 20) -> dict[str, object]:
        """The JSON shape of ``iklim.drill/v1`` ``runs[].accounting`` (value lists capped at ``limit``)."""
        return {
            "attempted": self.attempted,
            "acknowledged": self.acknowledged,
            "failed": self.failed,
            "indeterminate": self.indeterminate,
            "read": self.read,
            "lost": len(self.lost),
            "recovered": len(self.recovered),
            "unexpected": len(self.unexpected),
            "duplicated": len(self.duplicated),
            "lost_values": list(self.lost[:limit]),
            "unexpected_values": list(self.unexpected[:limit]),
            "duplicated_values": list(self.duplicated[:limit]),
            "valid": self.valid,
        }


def account(history: Iterable[Op], final_read: Sequence[str], f: str = "write") -> Accounting:
    """Account the ``f`` operations of ``history`` against ``final_read`` (a multiset of values).

    Raises ValueError when two writes carry the same value (values must be unique) or when the
    history has a completion without an invoke.
    """
    ops = [c for c in pair(history) if c.invoke.f == f]
    by_value: dict[str, str | None] = {}
    for c in ops:
        if c.invoke.value in by_value:
            raise ValueError(f"value {c.invoke.value!r} was written twice: values must be unique")
        by_value[c.invoke.value] = c.kind
    seen = Counter(final_read)
    ok = {v for v, k in by_value.items() if k == "ok"}
    failed = {v for v, k in by_value.items() if k == "fail"}
    unknown = {v for v, k in by_value.items() if k in ("info", None)}
    return Accounting(
        attempted=len(by_value),
        acknowledged=len(ok),
        failed=len(failed),
        indeterminate=len(unknown),
        read=sum(seen.values()),
        lost=tuple(sorted(v for v in ok if v not in seen)),
        recovered=tuple(sorted(v for v in unknown if v in seen)),
        unexpected=tuple(sorted(v for v in seen if v not in by_value or v in failed)),
        duplicated=tuple(sorted(v for v, n in seen.items() if n > 1)),
    )
