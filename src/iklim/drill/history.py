"""The operation history of a drill: immutable records, Jepsen's invoke / ok / fail / info.

Each client operation is recorded twice: an ``invoke`` when it is sent and one completion when it
returns, sharing its ``op_id``. The completion kinds follow Jepsen's history model
(jepsen-io/jepsen ``doc/tutorial/08-set.md``): ``ok`` (acknowledged), ``fail`` (definitely not
applied: the request never reached a server, or the server refused it before doing anything) and
``info`` (indeterminate: a timeout or a connection lost after sending; the write may or may not
have happened). Times are ``time.monotonic()`` seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

Kind = Literal["invoke", "ok", "fail", "info"]
KINDS: tuple[Kind, ...] = ("invoke", "ok", "fail", "info")


class Indeterminate(Exception):
    """Raised by a workload operation whose outcome is unknown (recorded as ``info``)."""


class Refused(Exception):
    """Raised by a workload operation that was definitely not applied (recorded as ``fail``)."""


@dataclass(frozen=True)
class Op:
    """One history record.

    ``op_id`` pairs an invoke with its completion; ``worker`` is the client that ran it; ``f`` is
    the operation (``write``); ``value`` the unique value written; ``time`` monotonic seconds;
    ``error`` a one-line reason on ``fail`` / ``info`` ("" otherwise).
    """

    op_id: int
    worker: int
    kind: Kind
    f: str
    value: str
    time: float
    error: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown op kind {self.kind!r}")

    def as_dict(self) -> dict[str, object]:
        return {
            "op_id": self.op_id,
            "worker": self.worker,
            "kind": self.kind,
            "f": self.f,
            "value": self.value,
            "time": round(self.time, 6),
            "error": self.error,
        }


@dataclass(frozen=True)
class Completed:
    """An invoke joined with its completion (``completion`` is None while still pending)."""

    invoke: Op
    completion: Op | None

    @property
    def kind(self) -> Kind | None:
        return self.completion.kind if self.completion else None

    @property
    def done(self) -> float | None:
        return self.completion.time if self.completion else None


class History:
    """An append-only, thread-safe operation history; :meth:`ops` returns an immutable snapshot.

    ``clock`` defaults to ``time.monotonic`` (tests pass their own).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._ops: list[Op] = []
        self._lock = threading.Lock()
        self._next = 0
        self._completed: set[int] = set()
        self.clock = clock

    def invoke(self, worker: int, f: str, value: str) -> Op:
        with self._lock:
            op = Op(self._next, worker, "invoke", f, value, self.clock())
            self._next += 1
            self._ops.append(op)
            return op

    def complete(self, invoked: Op, kind: Kind, error: str = "") -> Op:
        """Record the completion of ``invoked``; raises ValueError for ``invoke`` or a second one."""
        if kind == "invoke":
            raise ValueError("a completion cannot be an invoke")
        with self._lock:
            if invoked.op_id in self._completed:
                raise ValueError(f"op {invoked.op_id} already completed")
            self._completed.add(invoked.op_id)
            op = Op(invoked.op_id, invoked.worker, kind, invoked.f, invoked.value, self.clock(), error)
            self._ops.append(op)
            return op

    def run(self, worker: int, f: str, value: str, action: Callable[[], object]) -> Op:
        """Invoke, run ``action``, record ``ok`` / ``fail`` (:class:`Refused`) / ``info`` (anything
        else: an unexpected error is indeterminate, never counted as definitely not applied)."""
        invoked = self.invoke(worker, f, value)
        try:
            action()
        except Refused as exc:
            return self.complete(invoked, "fail", _one_line(exc))
        except Exception as exc:  # noqa: BLE001 - unknown outcome: indeterminate by definition
            return self.complete(invoked, "info", _one_line(exc))
        return self.complete(invoked, "ok")

    def ops(self) -> tuple[Op, ...]:
        with self._lock:
            return tuple(self._ops)


def pair(ops: Iterable[Op]) -> list[Completed]:
    """Join each invoke with its completion, in invoke order; raises ValueError on an orphan
    completion (a completion without an earlier invoke)."""
    invokes: dict[int, Op] = {}
    completions: dict[int, Op] = {}
    for op in ops:
        if op.kind == "invoke":
            invokes[op.op_id] = op
        elif op.op_id not in invokes:
            raise ValueError(f"completion of op {op.op_id} has no invoke before it")
        else:
            completions[op.op_id] = op
    return [Completed(inv, completions.get(i)) for i, inv in sorted(invokes.items())]


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:200]
