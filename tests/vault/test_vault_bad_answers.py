"""Something that is not Vault answers on port 8200 (issue 16, kind 3): `vault status`, `unseal` and
`bootstrap` print one line naming the address and exit 2, never a traceback. The servers are tiny
local sockets on 127.0.9.x returning garbage; nothing else is contacted."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from iklim.cli import cli
from iklim.model.schema import Environment
from iklim.vault.plan import VaultPlan, lab_plan


def _http(status: str, body: bytes, ctype: str = "text/plain") -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    return head.encode() + body


ANSWERS = {
    "plain text": _http("200 OK", b"hello from nginx"),
    "invalid JSON": _http("200 OK", b"{not json", "application/json"),
    "a JSON list": _http("200 OK", b"[1, 2]", "application/json"),
    "a JSON string": _http("200 OK", b'"ok"', "application/json"),
    "JSON of the wrong types": _http("200 OK", b'{"initialized": "yes", "sealed": [1]}', "application/json"),
    "an HTML 502": _http("502 Bad Gateway", b"<html>bad gateway</html>", "text/html"),
    "not HTTP": b"SSH-2.0-OpenSSH_9.2\r\n",
}


@pytest.fixture(params=list(ANSWERS), ids=list(ANSWERS))
def garbage(request: pytest.FixtureRequest) -> Iterator[str]:
    """A server on 127.0.9.1 that answers every connection with one garbage reply; yields its URL."""
    payload = ANSWERS[request.param]
    server = socket.socket()
    server.bind(("127.0.9.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    conn.recv(65536)
                    conn.sendall(payload)
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.9.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        server.close()


@pytest.fixture
def garbage_plan(garbage: str, prod_env: Environment, tmp_path: Path) -> VaultPlan:
    plan = lab_plan(prod_env, tmp_path)
    keys = {"keys_base64": [base64.b64encode(os.urandom(33)).decode()] * 5, "root_token": "s.token"}
    plan.custody.path.parent.mkdir(parents=True)
    plan.custody.path.write_text(json.dumps(keys))
    plan.custody.path.chmod(0o600)
    return dataclasses.replace(plan, members=tuple((name, garbage) for name, _ in plan.members))


@pytest.mark.parametrize("command", [["status"], ["unseal"], ["unseal", "vault-2"], ["bootstrap", "--timeout", "5"]])
def test_a_non_vault_answer_is_one_line_naming_the_address_and_exit_2(
    garbage_plan: VaultPlan, garbage: str, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.setattr("iklim.vault.commands._plan", lambda *args: garbage_plan)
    result = CliRunner().invoke(cli, ["vault", *command])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), "a clean exit, never a traceback"
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    assert f"({garbage}) did not answer like the Vault API" in errors[0]


def test_a_bootstrap_refuses_a_non_vault_answer_at_once(garbage_plan: VaultPlan) -> None:
    import time

    from iklim.vault.bootstrap import AnswerError, bootstrap

    begin = time.monotonic()
    with pytest.raises(AnswerError, match="did not answer like the Vault API"):
        bootstrap(garbage_plan, lambda line: None, timeout=30)
    assert time.monotonic() - begin < 5, "waiting does not turn another service into Vault"
