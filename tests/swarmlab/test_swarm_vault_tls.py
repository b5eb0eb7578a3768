"""Vault on TLS on the real Swarm lab (issue 17): the production stack, certificates issued by the
runbook's ``iklim pki`` with production's names and addresses, delivered as Docker secrets.

From the first manager's namespaces (where the runbook and an operator run), every member's API
on its node's private address verifies against the environment CA; a plaintext client and a
client trusting another CA are refused. A capture on the manager (tcpdump on every interface)
while a restarted member is unsealed by ``init/vault/vault-bootstrap.sh`` holds no unseal share
and no root token in clear, though it does hold a plaintext request sent as a control.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from iklim.swarmlab import paths
from iklim.swarmlab.nodes import dockerd_pid, lab_nodes, node_by_name
from tests.tlscapture import assert_no_secret_in_clear

from .manager import ENV, MANAGER, ROOT, in_manager, other_ca  # noqa: TID252

pytestmark = pytest.mark.swarmlab

PORT = ENV.services.vault.api_port
VAULT_IPS = [str(ENV.node(node).private_ip) for node in ENV.services.vault.nodes]

#: Run in the manager's namespaces: per member, a verified TLS request, a plaintext one, and one
#: trusting another CA (argv: CA file, other CA file, port, addresses...).
CLIENT = r"""
import json, ssl, sys, urllib.request, urllib.error
ca, other, port, *hosts = sys.argv[1:]
out = {}
for host in hosts:
    row = {}
    url = f"https://{host}:{port}/v1/sys/health?standbyok=true"
    try:
        with urllib.request.urlopen(url, timeout=5, context=ssl.create_default_context(cafile=ca)) as r:
            row["verified"] = json.loads(r.read())["initialized"]
    except Exception as exc:
        row["verified"] = repr(exc)
    try:
        urllib.request.urlopen(f"http://{host}:{port}/v1/sys/health", timeout=5)
        row["plaintext"] = "answered"
    except urllib.error.HTTPError as exc:
        row["plaintext"] = [exc.code, exc.read().decode(errors="replace")]
    except Exception as exc:
        row["plaintext"] = repr(exc)
    try:
        urllib.request.urlopen(url, timeout=5, context=ssl.create_default_context(cafile=other))
        row["other_ca"] = "answered"
    except Exception as exc:
        row["other_ca"] = type(exc).__name__ + ": " + str(getattr(exc, "reason", exc))
    out[host] = row
print(json.dumps(out))
"""


def _manager_pid() -> int:
    pid = dockerd_pid(node_by_name(lab_nodes(ENV), MANAGER))
    assert pid is not None, f"{MANAGER} is not running"
    return pid


@pytest.fixture(scope="module")
def lab() -> Iterator[docker.DockerClient]:
    up = subprocess.run([sys.executable, "-m", "iklim", "swarm-lab", "up"], capture_output=True, text=True)
    assert up.returncode == 0, f"swarm-lab up failed:\n{up.stderr[-4000:]}"
    manager = docker.DockerClient(base_url=f"unix://{paths.RUN}/{MANAGER}.sock")
    yield manager
    manager.close()


def test_the_vault_services_mount_their_certificates_as_docker_secrets(lab: docker.DockerClient) -> None:
    for i in (1, 2, 3):
        spec = lab.services.get(f"{ENV.stacks.vault}_vault-{i}").attrs["Spec"]["TaskTemplate"]["ContainerSpec"]
        mounted = {ref["File"]["Name"]: ref["File"]["Mode"] for ref in spec.get("Secrets", [])}
        assert mounted == {"tls_ca_crt": 0o444, f"tls_vault_{i}_crt": 0o444, f"tls_vault_{i}_key": 0o400}, mounted
        assert spec["Env"] and f"VAULT_ADDR=https://127.0.0.1:{PORT}" in spec["Env"]
    assert {s.name for s in lab.secrets.list()} >= {"tls_ca_crt", "tls_vault_1_key"}
    assert not any(s.name == "ca.key" or "ca_key" in s.name for s in lab.secrets.list())  # the CA key stays put


def test_every_member_verifies_and_plaintext_or_wrong_ca_clients_are_refused(
    lab: docker.DockerClient, tmp_path: Path
) -> None:
    other = other_ca(tmp_path)
    ca = paths.PKI_DIR / "tls_ca_crt"
    run = in_manager([sys.executable, "-c", CLIENT, str(ca), str(other), str(PORT), *VAULT_IPS])
    assert run.returncode == 0, run.stderr[-2000:]
    rows = json.loads(run.stdout)
    for host in VAULT_IPS:
        row = rows[host]
        assert row["verified"] is True, (host, row)
        assert row["plaintext"][0] == 400 and "HTTPS server" in row["plaintext"][1], (host, row)
        assert row["other_ca"].startswith("URLError") and "CERTIFICATE_VERIFY_FAILED" in row["other_ca"], (host, row)


def _vault_healthy() -> subprocess.CompletedProcess[str]:
    keys = str(paths.VAULT_KEYS_FILE)
    model = str(ROOT / "environments/prod.yaml")
    argv = ["vault", "status", "--target", "prod", "--keys-file", keys, "--env", model]
    return in_manager([sys.executable, "-m", "iklim", *argv])


def test_a_capture_of_an_unseal_on_the_manager_holds_no_share_and_no_token(
    lab: docker.DockerClient, tmp_path: Path
) -> None:
    capture = tmp_path / "unseal.pcap"
    tcpdump = subprocess.Popen(
        [
            "nsenter",
            f"--target={_manager_pid()}",
            "--net",
            "tcpdump",
            "-i",
            "any",
            "-U",
            "-s",
            "0",
            "-w",
            str(capture),
            f"tcp port {PORT}",
        ],  # fmt: skip
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    marker = f"iklim-plaintext-marker-{time.monotonic_ns()}"
    try:
        time.sleep(1.0)
        service = lab.services.get(f"{ENV.stacks.vault}_vault-2")
        old = {t["ID"] for t in service.tasks()}
        # a new task: it starts sealed, as after a node reboot. The docker CLI re-sends the spec as
        # it is (the SDK's force_update rebuilds it and drops fields: a drift the plan then reports)
        forced = subprocess.run(
            ["docker", "-H", f"unix://{paths.RUN}/{MANAGER}.sock", "service", "update", "--force", "--detach",
             service.name],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert forced.returncode == 0, forced.stderr
        deadline = time.monotonic() + 180
        while not re.search(r"^vault-2\s+sealed", _vault_healthy().stdout, re.M):
            assert time.monotonic() < deadline, "vault-2's new task never answered sealed"
            time.sleep(2)
        assert any(t["ID"] not in old for t in service.tasks())
        keys = {**os.environ, "VAULT_KEYS_FILE": str(paths.VAULT_KEYS_FILE)}
        bootstrap = in_manager(["bash", str(ROOT / "init/vault/vault-bootstrap.sh")], env=keys)
        assert bootstrap.returncode == 0, bootstrap.stderr[-2000:]
        # its unseal shares went over the private network now (not "already unsealed")
        assert re.search(r": vault-2 unsealed$", bootstrap.stderr, re.M), bootstrap.stderr[-2000:]
        url = f"http://{VAULT_IPS[0]}:{PORT}/v1/{marker}"
        control = f"import urllib.request as u\ntry: u.urlopen({url!r}, timeout=5)\nexcept Exception: pass"
        in_manager([sys.executable, "-c", control])
        time.sleep(1.0)
    finally:
        tcpdump.send_signal(signal.SIGINT)
        _, err = tcpdump.communicate(timeout=15)
    custody = json.loads(paths.VAULT_KEYS_FILE.read_text())
    secrets = [*custody["keys"], *custody["keys_base64"], custody["root_token"]]
    assert_no_secret_in_clear(capture.read_bytes(), err, marker, secrets, least=10_000)
    # Raft autopilot counts the re-joined voter healthy only after its stabilisation time (10 s by
    # default: developer.hashicorp.com/vault/docs/concepts/integrated-storage/autopilot): wait for it.
    deadline = time.monotonic() + 90
    healthy = _vault_healthy()
    while healthy.returncode != 0 and time.monotonic() < deadline:
        time.sleep(2)
        healthy = _vault_healthy()
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr[-2000:]
    roles = sorted(line.split()[1] for line in healthy.stdout.splitlines() if line.startswith("vault-"))
    assert roles == ["active", "standby", "standby"], healthy.stdout


#: Run in the manager's namespaces: the serial number of the certificate a member serves.
SERIAL = r"""
import socket, ssl, sys
ca, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
context = ssl.create_default_context(cafile=ca)
with socket.create_connection((host, port), timeout=5) as raw, context.wrap_socket(raw, server_hostname=host) as tls:
    print(tls.getpeercert()["serialNumber"])
"""


def _served_serial(host: str) -> int:
    """The serial as a number: Python prints it in hex with a leading zero kept (``0D5B...``)."""
    run = in_manager([sys.executable, "-c", SERIAL, str(paths.PKI_DIR / "tls_ca_crt"), host, str(PORT)])
    assert run.returncode == 0, run.stderr[-2000:]
    return int(run.stdout.strip(), 16)


def _file_serial(name: str) -> int:
    from cryptography import x509

    serial: int = x509.load_pem_x509_certificate((paths.PKI_DIR / name).read_bytes()).serial_number
    return serial


def test_a_renewed_member_certificate_rolls_out_through_deploy(lab: docker.DockerClient, tmp_path: Path) -> None:
    """`iklim pki issue` re-issues vault-3's pair; `iklim deploy --secrets-dir` with just those two
    files makes new secret versions and restarts vault-3 alone, in Vault's deploy order (unsealed
    after its restart), and vault-3 then serves the new certificate."""
    model = str(ROOT / "environments/prod.yaml")
    cli = [sys.executable, "-m", "iklim"]
    issued = subprocess.run(
        [*cli, "pki", "issue", "--env", model, "--dir", str(paths.PKI_DIR), "--member", "vault-3", "--force"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    assert _served_serial(VAULT_IPS[2]) != _file_serial("tls_vault_3_crt")  # not served yet
    stage = tmp_path / "renewal"
    stage.mkdir(mode=0o700)
    for name in ("tls_vault_3_crt", "tls_vault_3_key"):
        (stage / name).write_bytes((paths.PKI_DIR / name).read_bytes())
    deploy = subprocess.run(
        [*cli, "deploy", "--env", model, "--secrets-dir", str(stage), "--yes", "--format", "json"],
        capture_output=True, text=True, timeout=900, cwd=ROOT,
    )  # fmt: skip
    assert deploy.returncode == 0, deploy.stderr[-3000:]
    report = json.loads(deploy.stdout)
    assert report["applied"] == [f"{ENV.stacks.vault}_vault-3"], report["applied"]
    assert _served_serial(VAULT_IPS[2]) == _file_serial("tls_vault_3_crt")
    healthy = _vault_healthy()
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr[-2000:]
