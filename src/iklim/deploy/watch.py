"""Leader changes of the clusters during a deploy, observed through the drill seams.

A :class:`LeaderWatch` polls :meth:`Handover.leader` of each cluster (etcd ``maintenance/status``,
Patroni ``/cluster``, ``SENTINEL MASTER``, the measured quorum queue's ``leader``, OpenBao
``sys/leader``) every :data:`PERIOD_S` in one thread and keeps the sequence of *distinct* leaders
named, with the seconds since the watch began: a moment in which none is named (an election, a
Sentinel reconfiguring) is not a change, and A, none, A counts no change.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

#: Seconds between two readings of every cluster.
PERIOD_S = 0.25


class LeaderWatch:
    """``readers``: cluster -> a function naming its leader now (None: none named; never raises)."""

    def __init__(self, readers: Mapping[str, Callable[[], str | None]], clock: Callable[[], float] = time.monotonic):
        self.readers = dict(readers)
        self.clock = clock
        self.began = clock()
        self.seen: dict[str, list[tuple[float, str]]] = {name: [] for name in self.readers}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def poll(self) -> None:
        """One reading of every cluster (also what the thread does)."""
        for name, read in self.readers.items():
            try:
                leader = read()
            except Exception:  # noqa: BLE001 - a reading never stops the deploy
                leader = None
            if leader is None:
                continue
            with self._lock:
                history = self.seen[name]
                if not history or history[-1][1] != leader:
                    history.append((self.clock() - self.began, leader))

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(PERIOD_S)

    def start(self) -> None:
        self.poll()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10.0)
        self.poll()

    def leaders(self, name: str) -> list[tuple[float, str]]:
        """(seconds since the start, leader) each time ``name`` named another leader."""
        with self._lock:
            return list(self.seen.get(name, []))

    def first_other_since(self, name: str, old: str, since: float) -> float | None:
        """Monotonic time at which ``name`` first named a leader other than ``old`` after ``since``."""
        for at, who in self.leaders(name):
            if self.began + at >= since and who != old:
                return self.began + at
        return None
