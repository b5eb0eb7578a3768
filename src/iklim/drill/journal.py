"""The fault journal: every fault is written here BEFORE it is applied, and removed once healed.

One JSON file per target state directory (the lab: ``<lab root>/drill/journal.json``), shaped
``{"schema": "iklim.drill-journal/v1", "faults": [Entry, ...]}``. Writes are atomic (a temporary
file, fsync, rename) under an exclusive ``flock`` on ``journal.lock``, so a drill killed with
SIGKILL leaves either the old or the new journal, never a torn one; ``iklim drill heal`` reads
what is left and undoes it. An entry that is recorded but whose fault never happened is healed
harmlessly (every heal is idempotent).

Errors: :class:`JournalError` (an OSError) naming the file when it cannot be read or parsed.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = "iklim.drill-journal/v1"


class JournalError(OSError):
    """The journal cannot be read, parsed or written; the message names the path."""


@dataclass(frozen=True)
class Entry:
    """One applied (or about to be applied) fault.

    ``undo`` is the driver's own description of how to heal it (for the lab's ``kill``:
    ``{"restart": [process names]}``); ``applied_at`` is wall-clock seconds (for people).
    """

    fault_id: str
    target: str
    cluster: str
    fault: str
    member: str
    undo: Mapping[str, Any] = field(default_factory=dict)
    applied_at: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "fault_id": self.fault_id,
            "target": self.target,
            "cluster": self.cluster,
            "fault": self.fault,
            "member": self.member,
            "undo": dict(self.undo),
            "applied_at": self.applied_at,
        }

    @classmethod
    def new(cls, target: str, cluster: str, fault: str, member: str, undo: Mapping[str, Any]) -> Entry:
        return cls(uuid.uuid4().hex[:12], target, cluster, fault, member, dict(undo), time.time())


class Journal:
    """The journal under ``directory`` (created on first write)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / "journal.json"

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with (self.directory / "journal.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self) -> list[Entry]:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise JournalError(f"{self.path}: cannot read: {exc.strerror}") from None
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("schema") != SCHEMA:
                raise ValueError(f"not an {SCHEMA} document")
            return [Entry(**item) for item in data["faults"]]
        except (ValueError, TypeError, KeyError) as exc:
            raise JournalError(f"{self.path}:1: unreadable fault journal: {exc}") from None

    def _write(self, entries: list[Entry]) -> None:
        tmp = self.path.with_name(f".journal.{os.getpid()}.tmp")
        body = json.dumps({"schema": SCHEMA, "faults": [e.as_dict() for e in entries]}, indent=2) + "\n"
        with tmp.open("w") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(self.path)
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def record(self, entry: Entry) -> None:
        """Append ``entry``, durably, before the fault is applied."""
        with self._locked():
            self._write([*self._read(), entry])

    def clear(self, fault_id: str) -> None:
        """Remove the entry ``fault_id`` once its fault is healed (absent: nothing to do)."""
        with self._locked():
            entries = self._read()
            kept = [e for e in entries if e.fault_id != fault_id]
            if len(kept) != len(entries):
                self._write(kept)

    def pending(self) -> list[Entry]:
        """Every fault recorded and not yet healed, oldest first (none when no drill ever ran:
        nothing is created)."""
        if not self.directory.is_dir():
            return []
        with self._locked():
            return self._read()
