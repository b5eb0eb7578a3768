"""The model's ``tls`` section: each bad value gives one file:line error at its own key."""

from __future__ import annotations

from pathlib import Path

import pytest

from iklim.model.loader import ModelError, parse_environment
from iklim.model.schema import Environment
from iklim.model.tls import OVERLAY_CLUSTERS, TLS_CLUSTERS

PROD_TEXT = (Path(__file__).resolve().parent.parent / "environments" / "prod.yaml").read_text()
PENDING = '{mode: plaintext, reason: "TLS wiring pending (issue 17)"}'
#: Production's etcd choice as prod.yaml spells it; tests swap it for a plaintext choice.
ON_TLS = "{mode: tls}"


def _line(text: str, needle: str) -> int:
    return text.count("\n", 0, text.index(needle)) + 1


def _problems(text: str) -> list[str]:
    with pytest.raises(ModelError) as caught:
        parse_environment(text, "prod.yaml")
    return [str(p) for p in caught.value.problems]


def test_production_puts_every_private_network_cluster_on_tls(prod_env: Environment) -> None:
    for name in TLS_CLUSTERS:
        assert getattr(prod_env.tls.clusters, name).mode == "tls", name
    assert prod_env.tls.plaintext() == {}
    for name in OVERLAY_CLUSTERS:
        assert getattr(prod_env.tls.overlay, name).overlay_encrypted is True, name
    assert prod_env.tls.overlay.encrypted()


def test_a_plaintext_choice_with_its_reason_is_listed() -> None:
    text = PROD_TEXT.replace(f"etcd: {ON_TLS}", f"etcd: {PENDING}", 1)
    env = parse_environment(text, "prod.yaml")
    assert env.tls.clusters.etcd.mode == "plaintext"
    assert env.tls.plaintext() == {"etcd": "TLS wiring pending (issue 17)"}


CASES = [
    # (replace this, with this, the key the error names, text on the error's line, message part)
    (f"etcd: {ON_TLS}", "etcd: {mode: plaintext}", "tls.clusters.etcd", "etcd: {mode", "needs a reason"),
    (f"etcd: {ON_TLS}", 'etcd: {mode: tls, reason: "x y z"}', "tls.clusters.etcd", "etcd: {mode", "only for"),
    ("vault: {mode: tls}", "vault: {mode: tcp}", "tls.clusters.vault.mode", "vault: {mode", "'tls' or 'plaintext'"),
    (
        "postgresql: {mode: tls}",
        'postgresql: {mode: plaintext, reason: ""}',
        "tls.clusters.postgresql.reason",
        "postgresql: {",
        "at least 3",
    ),
    (
        "  cert_validity_days: 365",
        "  cert_validity_days: 4000",
        "tls.cert_validity_days",
        "cert_validity_days:",
        "outlive",
    ),
    ("  renew_before_days: 30", "  renew_before_days: 365", "tls.renew_before_days", "renew_before_days:", "less than"),
    (
        "  renew_before_days: 30",
        "  renew_before_days: 0",
        "tls.renew_before_days",
        "renew_before_days:",
        "greater than",
    ),
    ("  ca_validity_days: 3650", "  ca_validity_days: true", "tls.ca_validity_days", "ca_validity_days:", "integer"),
    (
        'redis: {overlay_encrypted: true, reason: "one switch for every overlay-only service; app clients unchanged"}',
        "redis: {overlay_encrypted: true}",
        "tls.overlay.redis.reason",
        "redis: {overlay",
        "missing",
    ),
    (
        "rabbitmq: {overlay_encrypted: true,",
        "rabbitmq: {overlay_encrypted: false,",
        "tls.overlay.rabbitmq.overlay_encrypted",
        "rabbitmq: {overlay",
        "share one overlay network",
    ),
    (
        "patroni_api: {mode: tls}",
        "patroni_api: {mode: tls, port: 8008}",
        "tls.clusters.patroni_api.port",
        "patroni_api: {",
        "unknown key",
    ),
]


@pytest.mark.parametrize(("old", "new", "key", "at", "message"), CASES, ids=[c[2] + ":" + c[4] for c in CASES])
def test_bad_tls_values_name_their_line(old: str, new: str, key: str, at: str, message: str) -> None:
    assert old in PROD_TEXT, old
    text = PROD_TEXT.replace(old, new, 1)
    problems = _problems(text)
    assert len(problems) == 1, problems
    line = _line(text, new.strip().split(":")[0] + ":" if at.endswith(":") else at)
    assert problems[0].startswith(f"prod.yaml:{line}:"), (problems, line)
    assert key in problems[0] and message in problems[0], problems


def test_a_model_without_tls_is_refused() -> None:
    start = PROD_TEXT.index("\ntls:\n")
    end = PROD_TEXT.index("\nservices:\n")
    problems = _problems(PROD_TEXT[:start] + PROD_TEXT[end:])
    assert any("missing key 'tls'" in p for p in problems), problems


def test_the_runbook_creates_the_overlay_as_the_model_chose(tmp_path: Path) -> None:
    """The rendered ``step_overlay`` run by bash against a FAKE ``docker`` that records its
    arguments: ``--opt encrypted`` with the production choice, none when the three say false."""
    import os
    import subprocess

    from iklim.render.tree import render_tree

    plain = PROD_TEXT
    for name in OVERLAY_CLUSTERS:
        plain = plain.replace(f"{name}: {{overlay_encrypted: true,", f"{name}: {{overlay_encrypted: false,", 1)
    fake = tmp_path / "bin" / "docker"
    fake.parent.mkdir()
    fake.write_text('#!/bin/bash\n[ "$1 $2" = "network inspect" ] && exit 1\necho "$@" >> "$CALLS"\n')
    fake.chmod(0o755)
    seen = {}
    for label, text in (("encrypted", PROD_TEXT), ("plain", plain)):
        runbook = render_tree(parse_environment(text, "prod.yaml"))["init-infra-prod.sh"].content.decode()
        functions = runbook[runbook.index("log() {") : runbook.index("label_node() {")]
        head = runbook[: runbook.index("log() {")]
        readonly = "\n".join(line for line in head.splitlines() if line.startswith("readonly "))
        calls = tmp_path / f"{label}.calls"
        script = f"set -euo pipefail\n{readonly}\n{functions}\nstep_overlay\n"
        env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}", "CALLS": str(calls)}
        done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        seen[label] = calls.read_text()
    assert seen["encrypted"].startswith("network create") and "--opt encrypted" in seen["encrypted"]
    assert seen["plain"].startswith("network create") and "encrypted" not in seen["plain"]
