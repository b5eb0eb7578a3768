"""The drill's pure checkers: history, Jepsen-style accounting, recovery time, quantiles."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from iklim.drill.accounting import account
from iklim.drill.history import History, Indeterminate, Op, Refused, pair
from iklim.drill.recovery import quantile, recovery_of, summary


class Clock:
    """A hand-driven clock: each reading is the current value; ``at`` moves it."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def at(self, t: float) -> Clock:
        self.now = t
        return self


def script(events: list[tuple[float, str, str, str]]) -> History:
    """A history from (time, value, 'invoke'|kind, error) lines, one op per value."""
    clock = Clock()
    history = History(clock)
    open_ops: dict[str, Op] = {}
    for t, value, kind, error in events:
        clock.at(t)
        if kind == "invoke":
            open_ops[value] = history.invoke(0, "write", value)
        else:
            history.complete(open_ops.pop(value), kind, error)  # type: ignore[arg-type]
    return history


def writes(spec: str, start: float = 0.0, step: float = 0.1) -> Iterator[tuple[float, str, str, str]]:
    """``spec`` is one letter per write: o(k), f(ail), i(nfo), p(ending); each takes ``step`` s."""
    kinds = {"o": "ok", "f": "fail", "i": "info"}
    for n, letter in enumerate(spec):
        t = start + n * step
        yield (t, f"v{n}", "invoke", "")
        if letter != "p":
            yield (t + step / 2, f"v{n}", kinds[letter], "boom" if letter != "o" else "")


def test_records_are_immutable_and_paired() -> None:
    history = script(list(writes("ofi")))
    ops = history.ops()
    with pytest.raises(AttributeError):
        ops[0].kind = "ok"  # type: ignore[misc]
    pairs = pair(ops)
    assert [c.kind for c in pairs] == ["ok", "fail", "info"]
    assert [c.invoke.value for c in pairs] == ["v0", "v1", "v2"]
    assert all(c.done is not None and c.done > c.invoke.time for c in pairs)


def test_a_second_completion_and_an_orphan_are_refused() -> None:
    history = History()
    op = history.invoke(1, "write", "a")
    history.complete(op, "ok")
    with pytest.raises(ValueError, match="already completed"):
        history.complete(op, "fail")
    with pytest.raises(ValueError, match="cannot be an invoke"):
        history.complete(op, "invoke")
    with pytest.raises(ValueError, match="no invoke"):
        pair([Op(7, 0, "ok", "write", "x", 1.0)])
    with pytest.raises(ValueError, match="unknown op kind"):
        Op(1, 0, "done", "write", "x", 1.0)  # type: ignore[arg-type]


def test_run_classifies_outcomes() -> None:
    history = History()

    def refuse() -> None:
        raise Refused("connection refused")

    def unknown() -> None:
        raise Indeterminate("timed out")

    def bug() -> None:
        raise KeyError("surprise")

    kinds = [
        history.run(0, "write", v, fn).kind for v, fn in (("a", lambda: 1), ("b", refuse), ("c", unknown), ("d", bug))
    ]
    assert kinds == ["ok", "fail", "info", "info"], "an unexpected error is indeterminate, never 'fail'"
    assert history.ops()[-1].error.startswith("KeyError")


def test_accounting_catches_a_lost_acknowledged_write() -> None:
    history = script(list(writes("ooooffiip")))  # v0-v3 ok, v4-v5 fail, v6-v7 info, v8 pending
    # The final read misses v2 (acknowledged: LOST), has v6 (info: recovered), has v5 (failed:
    # unexpected), has a value nobody wrote (unexpected) and v0 twice (duplicated).
    result = account(history.ops(), ["v0", "v0", "v1", "v3", "v5", "v6", "zz"])
    assert result.attempted == 9
    assert result.acknowledged == 4
    assert result.failed == 2
    assert result.indeterminate == 3
    assert result.lost == ("v2",)
    assert result.recovered == ("v6",)
    assert result.unexpected == ("v5", "zz")
    assert result.duplicated == ("v0",)
    assert result.read == 7
    assert not result.valid
    shape = result.as_dict()
    assert shape["lost"] == 1 and shape["lost_values"] == ["v2"] and shape["valid"] is False


def test_accounting_of_a_clean_run_is_valid() -> None:
    history = script(list(writes("ooifo")))
    result = account(history.ops(), ["v0", "v1", "v4"])  # the info write v2 did not happen
    assert result.valid
    assert (result.lost, result.recovered, result.unexpected) == ((), (), ())
    assert result.acknowledged == 3 and result.indeterminate == 1


def test_accounting_refuses_a_value_written_twice() -> None:
    history = History()
    history.run(0, "write", "same", lambda: None)
    history.run(1, "write", "same", lambda: None)
    with pytest.raises(ValueError, match="written twice"):
        account(history.ops(), ["same"])


def test_recovery_is_fault_to_first_ok_after_the_last_failure() -> None:
    # writes every 0.1 s from t=0: ok until the fault at 1.0, then failures, then ok again
    history = script(list(writes("oooooooooo" + "fffif" + "ooooo")))
    # v10 invoked at 1.0, fails at 1.05 ... v14 fails at 1.45; v15 invoked 1.5 ok at 1.55
    rec = recovery_of(history.ops(), fault_at=1.0, until=10.0, detected_at=1.2, elected_at=1.4)
    assert rec.failed_during == 5
    assert rec.last_bad == pytest.approx(1.45)
    assert rec.recovery == pytest.approx(0.55)
    assert rec.detection == pytest.approx(0.2)
    assert rec.election == pytest.approx(0.4)
    assert rec.client == pytest.approx(0.15)
    assert rec.as_dict()["recovery_s"] == 0.55


def test_recovery_counts_a_stall_without_failures() -> None:
    # the write invoked just after the fault hangs 1.2 s and then succeeds: that is the outage
    history = script(
        [(0.0, "a", "invoke", ""), (0.05, "a", "ok", ""), (1.01, "b", "invoke", ""), (2.21, "b", "ok", "")]
    )
    rec = recovery_of(history.ops(), fault_at=1.0, until=5.0)
    assert rec.last_bad is None and rec.failed_during == 0
    assert rec.recovery == pytest.approx(1.21)


def test_recovery_ignores_oks_invoked_before_the_fault_and_failures_after_the_window() -> None:
    history = script(
        [
            (0.9, "early", "invoke", ""),
            (1.0, "x", "invoke", ""),
            (1.3, "x", "fail", "refused"),
            (1.6, "early", "ok", ""),  # invoked before the fault: not the new leader serving
            (1.7, "y", "invoke", ""),
            (1.9, "y", "ok", ""),
            (5.0, "z", "invoke", ""),
            (5.1, "z", "fail", "after the window"),
        ]
    )
    rec = recovery_of(history.ops(), fault_at=1.0, until=4.0)
    assert rec.recovery == pytest.approx(0.9)
    assert rec.failed_during == 1


def test_recovery_is_none_when_nothing_recovers() -> None:
    history = script(list(writes("oooff")))
    rec = recovery_of(history.ops(), fault_at=0.3, until=10.0)
    assert rec.recovery is None and rec.client is None
    assert rec.as_dict()["recovery_s"] is None


def test_quantiles_nearest_rank() -> None:
    values = [float(v) for v in range(1, 11)]
    assert quantile(values, 0.5) == 5.0
    assert quantile(values, 0.95) == 10.0
    assert quantile([3.0], 0.95) == 3.0
    with pytest.raises(ValueError):
        quantile([], 0.5)
    with pytest.raises(ValueError):
        quantile(values, 1.5)
    assert summary([1.0, None, 3.0]) == {"p50": 1.0, "p95": 3.0, "max": 3.0, "missing": 1}
    assert summary([None]) == {"p50": None, "p95": None, "max": None, "missing": 1}
