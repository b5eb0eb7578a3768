"""PGP custody: Vault encrypts every key share and the root token to the model's PGP key; the
bootstrap and unseal decrypt them with the operator's gpg. Real gpg, real OpenBao."""

from __future__ import annotations

import base64
import dataclasses
import json
import subprocess
from pathlib import Path

import pytest

from iklim.vault.bootstrap import bootstrap, unseal
from iklim.vault.custody import KeyCustody

from .conftest import VaultCluster  # noqa: TID252


def make_pgp_key(home: Path) -> str:
    """A throw-away key pair in ``home``; returns the public key as Vault wants it (base64)."""
    home.mkdir(mode=0o700)
    env = {"GNUPGHOME": str(home), "PATH": "/usr/bin:/bin"}
    subprocess.run(
        [
            "gpg",
            "--batch",
            "--passphrase",
            "",
            "--quick-gen-key",
            "iklim test <ops@example.invalid>",
            "rsa2048",
            "encrypt",
            "never",
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    public = subprocess.run(
        ["gpg", "--batch", "--export", "ops@example.invalid"], env=env, check=True, capture_output=True
    ).stdout
    assert public, "gpg exported no public key"
    return base64.b64encode(public).decode()


def test_bootstrap_with_pgp_custody_and_unseal_after_restart(
    vault_cluster: VaultCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "gnupg"
    public = make_pgp_key(home)
    monkeypatch.setenv("GNUPGHOME", str(home))
    plan = dataclasses.replace(
        vault_cluster.plan, pgp_keys=(public,), custody=KeyCustody(vault_cluster.plan.custody.path, pgp=True)
    )
    lines: list[str] = []
    bootstrap(plan, lines.append, timeout=120)
    stored = json.loads(plan.custody.path.read_text())
    assert stored["pgp"] is True
    token = plan.custody.root_token()
    assert token != stored["root_token"], "the stored root token must be the PGP ciphertext"
    vault_cluster.plan = plan
    vault_cluster.healthy()

    vault_cluster.kill("vault-2")
    vault_cluster.start("vault-2")
    unseal(plan, ["vault-2"], lines.append, timeout=60)
    vault_cluster.healthy()
    assert not any(token in line for line in lines)
