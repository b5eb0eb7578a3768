"""A drill that cannot ask Patroni's REST API says why: the seam keeps the last error (here an
unreadable CA file, found before any connection is made) and the driver's leader lookup names it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from iklim.components.target import LabTarget
from iklim.drill import labseams
from iklim.drill.driver import DrillError
from iklim.drill.labdriver import LabDriver
from iklim.drill.labseams import PatroniSeam
from iklim.model.schema import Environment


@dataclass(frozen=True)
class _Context:
    env: Environment
    target: LabTarget

    def secret(self, name: str) -> str:
        return f"lab-{name}"


def test_a_missing_ca_file_is_named_when_no_leader_is_found(
    prod_env: Environment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert prod_env.tls.clusters.patroni_api.mode == "tls"
    monkeypatch.delenv("VAULT_CACERT", raising=False)
    monkeypatch.delenv("PKI_DIR", raising=False)
    ctx = _Context(prod_env, LabTarget(prod_env, tmp_path))  # <root>/pki holds no CA
    seam = PatroniSeam(ctx)
    assert seam.observe(None).leader is None
    assert f"{tmp_path / 'pki' / 'tls_ca_crt'}: No such file" in seam.last_error
    driver = LabDriver.__new__(LabDriver)  # only the seams: no lab processes are touched
    driver.seams = {"patroni": seam}
    with pytest.raises(DrillError, match=r"patroni: no leader named .*last error patroni-\d: CA file .*tls_ca_crt"):
        driver.leader("patroni")


def test_the_error_is_forgotten_once_a_member_answers(
    prod_env: Environment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A member that answers (here: no leader in its list) clears an earlier member's error."""
    seam = PatroniSeam(_Context(prod_env, LabTarget(prod_env, tmp_path)))
    answers: list[object] = [OSError("patroni-1 down"), {"members": []}, {"members": []}]

    def fake_api(ctx: object, member: str, path: str, t: float = 0) -> object:  # FAKE: no REST API runs here
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(labseams.planned, "patroni_api", fake_api)
    observed = seam.observe(None)
    assert observed.leader is None and observed.suspected
    assert seam.last_error == ""


def test_every_seam_shares_the_error_record(
    prod_env: Environment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """etcd's seam keeps its last member's error through the same :meth:`Seam._asked` (FAKE
    status call: no etcd runs here), so the driver can name it for any cluster."""

    def refused(
        ctx: object, member: str, path: str, body: object = None, t: float = 0, context: object = None
    ) -> object:
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(labseams.planned, "etcd_api", refused)
    monkeypatch.setattr(labseams.EtcdSeam, "_tls", lambda self: None)
    seam = labseams.EtcdSeam(_Context(prod_env, LabTarget(prod_env, tmp_path)))
    assert seam.observe(None).leader is None
    assert seam.last_error == f"{seam.members()[-1]}: [Errno 111] Connection refused"


def test_an_answer_keeps_the_error_clear_whatever_the_order(
    prod_env: Environment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two members answer (no leader yet) and the last one fails: the cluster is electing, not
    unreachable, so no member's error is reported (FAKE status calls)."""
    answers: list[object] = [{"leader": "0"}, {"leader": "0"}, OSError("etcd-3 down")]

    def status(
        ctx: object, member: str, path: str, body: object = None, t: float = 0, context: object = None
    ) -> object:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(labseams.planned, "etcd_api", status)
    monkeypatch.setattr(labseams.EtcdSeam, "_tls", lambda self: None)
    seam = labseams.EtcdSeam(_Context(prod_env, LabTarget(prod_env, tmp_path)))
    assert seam.observe(None).leader is None
    assert seam.last_error == ""
