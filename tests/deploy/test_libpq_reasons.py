"""The deploy's PostgreSQL errors keep libpq's reason per host (real libpq, closed loopback ports),
and never the password."""

from __future__ import annotations

import socket

import psycopg
import pytest

from iklim.deploy.rotationsteps import libpq_reasons


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _error(hosts: str, ports: str) -> psycopg.Error:
    with pytest.raises(psycopg.Error) as caught:
        psycopg.connect(
            host=hosts, port=ports, user="postgres", password="pw-must-not-show", connect_timeout=2,
            sslmode="verify-full", sslrootcert="/nonexistent", target_session_attrs="read-write",
        )  # fmt: skip
    return caught.value


def test_each_host_keeps_its_reason() -> None:
    a, b = _closed_port(), _closed_port()
    said = libpq_reasons(_error("127.0.0.1,127.0.0.2", f"{a},{b}"))
    assert said == "127.0.0.1: Connection refused; 127.0.0.2: Connection refused"


def test_one_host_is_its_first_line() -> None:
    port = _closed_port()
    said = libpq_reasons(_error("127.0.0.1", str(port)))
    assert said == f'connection to server at "127.0.0.1", port {port} failed: Connection refused'
    assert "pw-must-not-show" not in said
