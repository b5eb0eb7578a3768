"""Patroni/PostgreSQL: one ``INSERT`` per value through psycopg with every member listed and
``target_session_attrs=read-write``, which is how the applications find the primary (libpq tries
the hosts in order and keeps the first that accepts writes; postgresql.org/docs/15/libpq-connect.html).

A failed connect was never sent: ``fail``. A server error that rejects the statement
(``read-only transaction``, a constraint) was not applied: ``fail``. A connection lost or a timeout
while the statement runs (autocommit) may have committed: ``info``. The table has no key, so a
duplicated row would show in the final read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg import errors

from iklim.drill.history import Indeterminate, Refused
from iklim.drill.workloads.base import Client, Workload

TABLE = "iklim_drill"


def conninfo(
    endpoints: Sequence[tuple[str, int]],
    user: str,
    password: str,
    timeout: int,
    tls: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """libpq keyword arguments reaching whichever member is the primary now; ``tls``: the TLS
    keywords (:func:`iklim.components.trust.libpq_tls`: ``sslmode=verify-full`` and the CA)."""
    return {
        **(tls or {}),
        "host": ",".join(h for h, _ in endpoints),
        "port": ",".join(str(p) for _, p in endpoints),
        "user": user,
        "password": password,
        "dbname": "postgres",
        "connect_timeout": timeout,
        "target_session_attrs": "read-write",
        "options": "-c statement_timeout=5000",
        # A partitioned primary answers nothing, not even TCP: without a client-side bound a write
        # waits for the kernel's retransmissions (~15 min). 3 s of unacknowledged data ends it
        # (libpq tcp_user_timeout, PostgreSQL >= 12 client).
        "tcp_user_timeout": 3000,
        "autocommit": True,
    }


class PatroniClient(Client):
    def __init__(self, params: dict[str, Any], run_id: str) -> None:
        self.params, self.run_id = params, run_id
        self.conn: psycopg.Connection[Any] | None = None

    def connect(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self.conn = psycopg.connect(**self.params)

    def write(self, value: str) -> None:
        if self.conn is None or self.conn.closed:
            try:
                self.conn = psycopg.connect(**self.params)
            except psycopg.Error as exc:
                raise Refused(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
        try:
            self.conn.execute(f"INSERT INTO {TABLE} (run, value) VALUES (%s, %s)", (self.run_id, value))
        except (errors.ReadOnlySqlTransaction, errors.IntegrityError, errors.AdminShutdown) as exc:
            self._drop()
            if isinstance(exc, errors.AdminShutdown):
                raise Indeterminate(str(exc).splitlines()[0]) from None
            raise Refused(str(exc).splitlines()[0]) from None
        except psycopg.Error as exc:
            self._drop()
            raise Indeterminate(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None

    def _drop(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(psycopg.Error):
                self.conn.close()
            self.conn = None

    def close(self) -> None:
        self._drop()


class PatroniWorkload(Workload):
    name = "patroni"

    def __init__(
        self,
        endpoints: Sequence[tuple[str, int]],
        user: str,
        password: str,
        run_id: str,
        tls: Mapping[str, Any] | None = None,
    ) -> None:
        self.params = conninfo(endpoints, user, password, timeout=1, tls=tls)
        self.run_id = run_id

    def _read_params(self) -> dict[str, Any]:
        return {**self.params, "connect_timeout": 5}

    def setup(self) -> None:
        with psycopg.connect(**self._read_params()) as conn:
            conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (run text NOT NULL, value text NOT NULL)")

    def client(self) -> Client:
        return PatroniClient(self.params, self.run_id)

    def final_read(self) -> list[str]:
        with psycopg.connect(**self._read_params()) as conn:
            rows = conn.execute(f"SELECT value FROM {TABLE} WHERE run = %s", (self.run_id,)).fetchall()
        return [str(r[0]) for r in rows]
