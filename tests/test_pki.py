"""The internal CA (issue 17): certificates checked by openssl itself, names from the model,
renewal from the model's threshold, files 0600 and never overwritten, no key on any stdout."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from iklim.cli import cli
from iklim.model.schema import Environment
from iklim.pki import store
from iklim.pki.ca import PkiError, create_ca, info, issue
from iklim.pki.members import member, members
from iklim.pki.renewal import reason_to_issue

OPENSSL = shutil.which("openssl")
assert OPENSSL is not None, "openssl is needed (scripts/install-deps.sh installs it)"
KEY_BODY = re.compile(r"-----BEGIN PRIVATE KEY-----\n(.+?)\n-----END", re.S)


def _openssl(*args: str) -> str:
    proc = subprocess.run([OPENSSL, *args], capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["pki", *args])


def _said(result: Result) -> list[str]:
    """The command's lines, without the model's placeholder warnings."""
    return [line for line in result.output.splitlines() if not line.startswith("warning: ")]


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Result]]:
    folder = tmp_path_factory.mktemp("pki") / "ca"
    outputs = [_run("init", "--dir", str(folder)), _run("issue", "--dir", str(folder), "--all")]
    assert [r.exit_code for r in outputs] == [0, 0], [r.output for r in outputs]
    outputs.append(_run("show", "--dir", str(folder)))
    assert outputs[-1].exit_code == 0, outputs[-1].output
    return folder, outputs


# -- names from the model ---------------------------------------------------------------------


def test_every_member_of_the_model_gets_the_names_its_clients_use(prod_env: Environment) -> None:
    found = {m.name: m for m in members(prod_env)}
    svc = prod_env.services
    expected: dict[str, tuple[set[str], set[str]]] = {}
    for i, (alias, node) in enumerate(zip(svc.etcd.aliases, svc.etcd.nodes, strict=True), start=1):
        expected[f"etcd-{i}"] = ({alias, f"etcd-{i}", "localhost"}, {str(prod_env.node(node).private_ip), "127.0.0.1"})
    for section in ("vault", "patroni"):
        spec = getattr(svc, section)
        for i, node in enumerate(spec.nodes, start=1):
            ip = str(prod_env.node(node).private_ip)
            expected[f"{section}-{i}"] = ({f"{section}-{i}", "localhost"}, {ip, "127.0.0.1"})
    for client in ("patroni-etcd-client", "apisix-etcd-client", "prometheus-etcd-client", "iklim-etcd-client"):
        expected[client] = (set(), set())
    assert set(found) == set(expected)
    for name, (dns, ips) in expected.items():
        assert set(found[name].dns) == dns, name
        assert {str(ip) for ip in found[name].ips} == ips, name
    assert found["etcd-1"].common_name == "etcd-01"  # the alias APISIX and Patroni dial
    assert (found["patroni-etcd-client"].common_name, found["apisix-etcd-client"].common_name) == ("patroni", "apisix")
    assert {m.crt_name for m in found.values()} >= {"tls_vault_1_crt", "tls_etcd_3_crt", "tls_apisix_etcd_client_crt"}


def test_an_unknown_member_is_named(prod_env: Environment) -> None:
    with pytest.raises(LookupError, match="unknown member 'etcd-9'; known: vault-1"):
        member(prod_env, "etcd-9")


# -- what openssl says about the files ---------------------------------------------------------


def test_openssl_verifies_every_certificate_for_its_purpose(
    issued: tuple[Path, list[Result]], prod_env: Environment
) -> None:
    folder, _ = issued
    ca = folder / store.CA_CERT
    ca_text = _openssl("x509", "-in", str(ca), "-noout", "-text")
    assert "CA:TRUE, pathlen:0" in ca_text and "Certificate Sign, CRL Sign" in ca_text
    for one in members(prod_env):
        crt = str(folder / one.crt_name)
        purpose = "sslserver" if one.server else "sslclient"
        assert _openssl("verify", "-CAfile", str(ca), "-purpose", purpose, crt).strip() == f"{crt}: OK"
        text = _openssl("x509", "-in", crt, "-noout", "-text")
        assert f"Subject: CN = {one.common_name}\n" in text
        assert "CA:FALSE" in text and "Digital Signature" in text
        usages = {"TLS Web Server Authentication"} if one.server else set()
        usages |= {"TLS Web Client Authentication"} if one.client else set()
        eku = text.split("X509v3 Extended Key Usage:", 1)[1].splitlines()[1].strip()
        assert set(eku.split(", ")) == usages, (one.name, eku)
        if one.dns:
            san = text.split("X509v3 Subject Alternative Name:", 1)[1].splitlines()[1].strip()
            wanted = [f"DNS:{d}" for d in one.dns] + [f"IP Address:{ip}" for ip in one.ips]
            assert san.split(", ") == wanted, (one.name, san)
        else:
            assert "Subject Alternative Name" not in text
        dates = _openssl("x509", "-in", crt, "-noout", "-startdate", "-enddate")
        start, end = (datetime.strptime(line.split("=", 1)[1], "%b %d %H:%M:%S %Y GMT") for line in dates.splitlines())
        assert (end - start) == timedelta(days=prod_env.tls.cert_validity_days, minutes=5), one.name
        # the key openssl reads is the certificate's
        pub_cert = _openssl("x509", "-in", crt, "-noout", "-pubkey")
        assert _openssl("pkey", "-in", str(folder / one.key_name), "-pubout") == pub_cert


def test_keys_are_0600_in_a_0700_folder_and_never_printed(issued: tuple[Path, list[Result]]) -> None:
    folder, outputs = issued
    assert folder.stat().st_mode & 0o777 == 0o700
    keys = [p for p in folder.iterdir() if p.name.endswith("_key") or p.name == store.CA_KEY]
    assert len(keys) == len(members_of_folder(folder)) + 1
    printed = "".join(r.output for r in outputs)
    for key in keys:
        assert key.stat().st_mode & 0o777 == 0o600, key
        body = KEY_BODY.search(key.read_text())
        assert body is not None
        assert all(line not in printed for line in body.group(1).splitlines()), key
    assert "PRIVATE KEY" not in printed
    assert not [p for p in folder.iterdir() if p.name.startswith(".")], "a temporary file was left"


def members_of_folder(folder: Path) -> list[str]:
    return [
        p.name
        for p in folder.iterdir()
        if p.name.startswith("tls_") and p.name.endswith("_crt") and p.name != "tls_ca_crt"
    ]


def test_show_lists_names_and_expiry_without_keys(issued: tuple[Path, list[Result]]) -> None:
    _, outputs = issued
    shown = outputs[-1].output
    assert "etcd-1" in shown and "etcd-01, etcd-1, localhost, 10.0.2.11, 127.0.0.1" in shown
    assert shown.count(", current") == 13 and "expires" in shown  # 9 members, 4 etcd clients


# -- refusals ----------------------------------------------------------------------------------


def test_init_refuses_to_overwrite_a_ca(tmp_path: Path) -> None:
    folder = tmp_path / "ca"
    assert _run("init", "--dir", str(folder)).exit_code == 0
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    again = _run("init", "--dir", str(folder))
    assert again.exit_code == 2
    assert _said(again) == [f"error: {folder / store.CA_KEY}: exists; the CA is created once (refusing to overwrite)"]
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_a_folder_others_can_read_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "open"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    result = _run("init", "--dir", str(folder))
    assert result.exit_code == 2 and "chmod 700" in result.output
    assert list(folder.iterdir()) == []


def test_issue_without_a_ca_and_bad_arguments_are_one_line_errors(tmp_path: Path) -> None:
    folder = tmp_path / "none"
    missing = _run("issue", "--dir", str(folder), "--all")
    assert missing.exit_code == 2 and "run 'iklim pki init" in missing.output
    assert _run("issue", "--dir", str(folder)).exit_code == 2
    assert _run("issue", "--dir", str(folder), "--all", "--member", "etcd-1").exit_code == 2
    assert _run("init", "--dir", str(tmp_path / "c")).exit_code == 0
    unknown = _run("issue", "--dir", str(tmp_path / "c"), "--member", "etcd-9")
    assert unknown.exit_code == 2 and len(_said(unknown)) == 1 and _said(unknown)[0].startswith("error: unknown member")


def test_help_has_examples() -> None:
    for sub in ([], ["init"], ["issue"], ["show"]):
        result = _run(*sub, "--help")
        assert result.exit_code == 0 and "iklim pki" in result.output and "Example" in result.output


# -- renewal and re-issue ----------------------------------------------------------------------


def test_renewal_follows_the_models_threshold(prod_env: Environment) -> None:
    now = datetime.now(UTC)
    ca = create_ca("test CA", prod_env.tls.ca_validity_days, now)
    one = member(prod_env, "etcd-1")
    pem = issue(one, ca, prod_env.tls.cert_validity_days, now)
    days, before = prod_env.tls.cert_validity_days, prod_env.tls.renew_before_days
    assert reason_to_issue(one, pem.cert, pem.key, ca.cert, before, now) is None
    edge = now + timedelta(days=days - before) - timedelta(hours=1)
    assert reason_to_issue(one, pem.cert, pem.key, ca.cert, before, edge) is None
    due = reason_to_issue(one, pem.cert, pem.key, ca.cert, before, edge + timedelta(hours=2))
    assert due is not None and due.startswith("expires ") and f"within {before} days" in due
    assert reason_to_issue(one, None, None, ca.cert, before, now) == "not issued yet"
    other = issue(member(prod_env, "etcd-2"), ca, days, now)
    assert reason_to_issue(one, pem.cert, other.key, ca.cert, before, now) == "key and certificate do not match"
    assert reason_to_issue(one, other.cert, other.key, ca.cert, before, now) == "names differ from the model"
    moved = dataclasses.replace(one, ips=(one.ips[0],))
    assert reason_to_issue(moved, pem.cert, pem.key, ca.cert, before, now) == "names differ from the model"
    foreign = create_ca("test CA", 10, now)  # same subject, another key
    assert reason_to_issue(one, pem.cert, pem.key, foreign.cert, before, now) == "issued by another CA"
    assert reason_to_issue(one, b"junk", pem.key, ca.cert, before, now).startswith("unreadable")  # type: ignore[union-attr]


def test_a_certificate_never_outlives_its_ca(prod_env: Environment) -> None:
    now = datetime.now(UTC)
    ca = create_ca("short CA", 10, now)
    pem = issue(member(prod_env, "vault-1"), ca, 365, now)
    assert info(pem.cert, "c").not_after == info(ca.cert, "ca").not_after
    with pytest.raises(PkiError, match="not a CA"):
        issue(member(prod_env, "vault-1"), pem, 10, now)
    with pytest.raises(PkiError, match="expired"):
        issue(member(prod_env, "vault-1"), ca, 10, now + timedelta(days=11))


def test_a_second_issue_keeps_current_certificates_and_repairs_a_broken_pair(tmp_path: Path) -> None:
    folder = tmp_path / "ca"
    assert _run("init", "--dir", str(folder)).exit_code == 0
    assert _run("issue", "--dir", str(folder), "--all").exit_code == 0
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    again = _run("issue", "--dir", str(folder), "--all")
    assert again.exit_code == 0 and again.output.count("current, kept") == 13
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    # an interrupted renewal: etcd-2's key replaced, its certificate not
    (folder / "tls_etcd_2_key").write_bytes(before["tls_etcd_1_key"])
    show = _run("show", "--dir", str(folder))
    assert show.exit_code == 1 and "re-issue: key and certificate do not match" in show.output
    repair = _run("issue", "--dir", str(folder), "--all")
    assert "etcd-2: issued (key and certificate do not match)" in repair.output
    assert repair.output.count("current, kept") == 12
    assert (folder / "tls_etcd_2_crt").read_bytes() != before["tls_etcd_2_crt"]
    assert (folder / store.CA_KEY).read_bytes() == before[store.CA_KEY]
    forced = _run("issue", "--dir", str(folder), "--member", "vault-1", "--force")
    assert _said(forced) == ["vault-1: issued (forced): tls_vault_1_crt, tls_vault_1_key"]


def test_a_tls_client_names_the_ca_file_it_cannot_use(
    prod_env: Environment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``trust.ssl_context``: a missing or non-PEM CA file is an OSError that names the file."""
    from iklim.components.target import ProductionTarget
    from iklim.components.trust import ssl_context

    monkeypatch.setenv("PKI_DIR", str(tmp_path))
    monkeypatch.delenv("VAULT_CACERT", raising=False)
    ca = tmp_path / "tls_ca_crt"
    target = ProductionTarget(prod_env)
    if Path("/run/secrets/tls_ca_crt").exists():  # production's own file comes first
        pytest.fail("this machine has /run/secrets/tls_ca_crt: the test cannot point the client elsewhere")
    with pytest.raises(OSError, match=f"CA file {ca}: No such file"):
        ssl_context(prod_env, target, "patroni_api")
    ca.write_text("not a certificate\n")
    with pytest.raises(OSError, match=f"CA file {ca}: .*no certificate"):
        ssl_context(prod_env, target, "patroni_api")
    ca.write_bytes(create_ca("t", 1, datetime.now(UTC)).cert)
    assert ssl_context(prod_env, target, "patroni_api") is not None
