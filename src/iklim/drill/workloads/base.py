"""The workload seam and the paced writers that drive it.

A :class:`Workload` is target-agnostic: it is built from endpoints and credentials by a driver.
Each writer thread owns one :class:`Client` (a client library's connection is not thread-safe)
and writes unique values (``<run>-<worker>-<n>``) at ``rate / workers`` Hz each, recording every
operation in the shared :class:`~iklim.drill.history.History`. A client raises
:class:`~iklim.drill.history.Refused` when a write was definitely not applied and anything else
when its outcome is unknown.
"""

from __future__ import annotations

import contextlib
import threading
import time
from abc import ABC, abstractmethod

from iklim.drill.history import History


class Client(ABC):
    """One connection's worth of writes (not shared between threads)."""

    @abstractmethod
    def write(self, value: str) -> None:
        """Write ``value`` and return once acknowledged; raise as the module docstring says."""

    @abstractmethod
    def close(self) -> None: ...

    def connect(self) -> None:  # noqa: B027 - optional: most clients connect on their first write
        """Open the connection ahead of the first write, so set-up (a TLS handshake, an
        authentication, trying each host for the primary) is not paid inside the measured rate.
        Never raises: a failure is left for the first write to report."""


class Workload(ABC):
    """A cluster's write workload: set-up, one client per writer, and the final read."""

    name: str = ""

    @abstractmethod
    def setup(self) -> None:
        """Prepare (create the table, ...); idempotent; raise OSError-like errors when it cannot."""

    @abstractmethod
    def client(self) -> Client: ...

    @abstractmethod
    def final_read(self) -> list[str]:
        """Every value of this run present now (a multiset), read from the current leader."""


class Writers:
    """``workers`` threads writing through ``workload`` at ``rate`` Hz in total until :meth:`stop`."""

    def __init__(self, workload: Workload, history: History, run_id: str, rate: float, workers: int) -> None:
        if rate <= 0 or workers < 1:
            raise ValueError("rate must be > 0 and workers >= 1")
        self.workload, self.history, self.run_id = workload, history, run_id
        self.period = workers / rate
        self._stop = threading.Event()
        self._ready = threading.Barrier(workers + 1)
        self._threads = [threading.Thread(target=self._loop, args=(w,), daemon=True) for w in range(workers)]

    def start(self, ready_timeout: float = 10.0) -> None:
        """Start the writers once each has its client connected (:meth:`Client.connect`), or after
        ``ready_timeout`` seconds: the rate is then measured from the first scheduled write."""
        for thread in self._threads:
            thread.start()
        with contextlib.suppress(threading.BrokenBarrierError):
            self._ready.wait(ready_timeout)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop writing and wait for the threads (an op in flight completes or times out)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)

    def _loop(self, worker: int) -> None:
        client = self.workload.client()
        try:
            client.connect()
            with contextlib.suppress(threading.BrokenBarrierError):
                self._ready.wait()
            n, next_at = 0, time.monotonic()
            while not self._stop.is_set():
                value = f"{self.run_id}-{worker}-{n}"
                self.history.run(worker, "write", value, lambda v=value: client.write(v))  # type: ignore[misc]
                n += 1
                next_at += self.period
                delay = next_at - time.monotonic()
                if delay > 0:
                    self._stop.wait(delay)
                else:
                    next_at = time.monotonic()  # behind (a slow op): no burst to catch up
        finally:
            client.close()
