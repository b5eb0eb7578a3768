"""Vault on TLS (issue 17), on a real OpenBao x3 cluster with the lab's certificates (the production
certificate code, lab addresses): every client path verifies the members' certificates, a
plaintext or wrong-CA client is refused, and a packet capture of the whole bootstrap (init, unseal
shares, joins, the root token's day-one calls) holds no secret in clear.
"""

from __future__ import annotations

import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import hvac
import pytest
import requests

from iklim.components.trust import ca_file
from iklim.drill.history import Refused
from iklim.drill.workloads.vault import VaultWorkload
from iklim.model.tlswords import ADDRESS_NOT_NAMED, tls_reason
from iklim.pki.ca import create_ca
from iklim.status.transport import NetTransport, ProbeError
from iklim.vault.api import VaultError, VaultMember
from iklim.vault.bootstrap import status_lines
from tests.tlscapture import assert_no_secret_in_clear

from .conftest import PREFIX, VaultCluster  # noqa: TID252

MEMBERS = ("vault-1", "vault-2", "vault-3")
PORT = 8200


def _ca(cluster: VaultCluster) -> str:
    return ca_file(cluster.ctx.env, cluster.ctx.target, "vault")


def _other_ca(tmp_path: Path) -> str:
    """A CA that signed nothing of this cluster's (same kind of key and names)."""
    path = tmp_path / "other_ca.crt"
    path.write_bytes(create_ca("iklim prod internal CA", 30, datetime.now(UTC)).cert)
    return str(path)


def test_the_plan_speaks_https_to_every_member(vault_cluster: VaultCluster) -> None:
    assert [url for _, url in vault_cluster.plan.members] == [f"https://{PREFIX}.{i}:{PORT}" for i in (1, 2, 3)]
    assert vault_cluster.plan.verify == _ca(vault_cluster)
    assert Path(_ca(vault_cluster)).is_file()


def test_each_member_presents_a_certificate_for_its_address_only(vault_cluster: VaultCluster) -> None:
    context = ssl.create_default_context(cafile=_ca(vault_cluster))
    for i in (1, 2, 3):
        host = f"{PREFIX}.{i}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with (
                    socket.create_connection((host, PORT), timeout=2) as raw,
                    context.wrap_socket(raw, server_hostname=host) as tls,
                ):
                    assert tls.version() in ("TLSv1.2", "TLSv1.3")
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline, f"{host}:{PORT} never listened"
                time.sleep(0.2)
        other_name = f"{PREFIX}.{i % 3 + 1}"  # a name this member's certificate lacks
        with socket.create_connection((host, PORT), timeout=2) as raw, pytest.raises(ssl.SSLCertVerificationError) as e:
            context.wrap_socket(raw, server_hostname=other_name)
        assert tls_reason(e.value) == ADDRESS_NOT_NAMED  # not "not signed by the CA file"


def test_verified_clients_work_and_plaintext_or_wrong_ca_clients_are_refused(
    vault_cluster: VaultCluster, tmp_path: Path
) -> None:
    assert vault_cluster.drive("bootstrap").returncode == 0
    lines = vault_cluster.healthy()
    assert "voters: 3; failure tolerance: 1; healthy: True" in lines[-1]
    ca, other = _ca(vault_cluster), _other_ca(tmp_path)
    url = vault_cluster.plan.url("vault-1")
    # hvac (every client of the bootstrap, the drill and the deploy) with verification on
    assert hvac.Client(url=url, verify=ca, timeout=5).sys.read_health_status(method="GET")["initialized"]
    # a plaintext client: the listener answers HTTP with 400 and serves nothing
    plain = requests.get(url.replace("https://", "http://") + "/v1/sys/health", timeout=5)
    assert plain.status_code == 400 and "HTTPS server" in plain.text and "initialized" not in plain.text
    # a client trusting another CA: the handshake fails before any request is sent
    with pytest.raises(requests.exceptions.SSLError):
        hvac.Client(url=url, verify=other, timeout=5).sys.read_health_status(method="GET")
    with pytest.raises(VaultError, match="TLS failed: the member's certificate is not signed by the CA file"):
        VaultMember("vault-1", url, timeout=5, verify=other).health()
    with pytest.raises(ProbeError, match="CA file .*: No such file or directory"):
        NetTransport().http(
            "GET", f"{PREFIX}.1", PORT, "/v1/sys/health", timeout=5, ca_file=str(tmp_path / "absent.crt")
        )
    with pytest.raises(VaultError, match="CA file .* missing"):
        VaultMember("vault-1", url, timeout=5, verify=str(tmp_path / "absent.crt")).health()
    # the status probes' transport
    transport = NetTransport()
    reply = transport.http("GET", f"{PREFIX}.1", PORT, "/v1/sys/health", timeout=5, ca_file=ca)
    assert reply.status in (200, 429) and reply.body["initialized"] is True
    with pytest.raises(ProbeError, match="TLS failed: the member's certificate is not signed by the CA file"):
        transport.http("GET", f"{PREFIX}.1", PORT, "/v1/sys/health", timeout=5, ca_file=other)
    assert transport.http("GET", f"{PREFIX}.1", PORT, "/v1/sys/health", timeout=5).status == 400
    # the drill and deploy --measure writer (its own requests session: verify set on it too)
    urls = [u for _, u in vault_cluster.plan.members]
    token = vault_cluster.plan.custody.root_token()
    mount = vault_cluster.ctx.env.services.vault.day_one.kv_mounts[0]
    workload = VaultWorkload(urls, token, mount, "tls-test", timeout=5.0, verify=ca)
    workload.setup()
    writer = workload.client()
    try:
        for value in ("tls-1", "tls-2", "tls-3"):
            writer.write(value)
    finally:
        writer.close()
    assert {"tls-1", "tls-2", "tls-3"} <= set(workload.final_read())
    stranger = VaultWorkload(urls, token, mount, "tls-test", timeout=5.0, verify=other).client()
    with pytest.raises(Refused):  # the handshake fails: nothing reached Vault
        stranger.write("never")


def test_a_capture_of_the_bootstrap_holds_no_unseal_share_and_no_root_token(
    vault_cluster: VaultCluster, tmp_path: Path
) -> None:
    assert shutil.which("tcpdump"), "tcpdump missing: bash scripts/install-deps.sh installs it"
    capture = tmp_path / "bootstrap.pcap"
    tcpdump = subprocess.Popen(
        ["tcpdump", "-i", "lo", "-U", "-s", "0", "-w", str(capture), f"tcp port {PORT} and net {PREFIX}.0/24"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        time.sleep(1.0)  # tcpdump listening
        first = vault_cluster.drive("bootstrap")  # init, unseal shares to 3 members, joins, day-one
        assert first.returncode == 0, first.stderr
        vault_cluster.kill("vault-2")  # a restarted member: its unseal shares go over the wire again
        vault_cluster.start("vault-2")
        second = vault_cluster.drive("bootstrap")
        assert second.returncode == 0 and re.search(r": vault-2 unsealed$", second.stderr, re.M), second.stderr
        # The control: a plaintext request's bytes are visible in this capture.
        marker = f"iklim-plaintext-marker-{time.monotonic_ns()}"
        requests.get(f"http://{PREFIX}.1:{PORT}/v1/{marker}", timeout=5)
        time.sleep(1.0)
    finally:
        tcpdump.send_signal(signal.SIGINT)
        _, err = tcpdump.communicate(timeout=10)
    assert_no_secret_in_clear(capture.read_bytes(), err, marker, vault_cluster.secrets(), least=20_000)
    status_lines(vault_cluster.plan)  # the cluster is still answering
