"""etcd on TLS with client-certificate authentication (issue 17), on the lab's real etcd x3 with
the lab's certificates (the production certificate code, lab addresses): Patroni keeps its leader
key through its own client certificate, the APISIX configuration writer's certificate writes a
route, the tool's clients (status probe, drill writer, hand-over's move-leader reading) verify
every member, and a plaintext client, a client without a certificate, a client whose certificate
another CA signed, and a client trusting another CA are all refused.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from iklim.components.apisix import ETCD_CLIENT as APISIX_ETCD_CLIENT
from iklim.components.base import member_names
from iklim.components.trust import ca_file, etcd_client_files, ssl_context
from iklim.drill import labplanned
from iklim.drill.history import Refused
from iklim.drill.workloads.etcd import EtcdWorkload
from iklim.lab.context import LabContext
from iklim.model.paths import TOOL_ETCD_CLIENT
from iklim.pki.ca import create_ca, issue
from iklim.pki.members import Member
from iklim.status.transport import NetTransport, ProbeError


def _members(lab: LabContext) -> list[str]:
    return member_names("etcd", lab.env.services.etcd.members)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _post(lab: LabContext, member: str, path: str, body: dict[str, Any], context: ssl.SSLContext | None) -> Any:
    """POST to ``member``'s v3 gateway; https when ``context`` is given, plain http otherwise."""
    client = lab.target.endpoint(member, "client")
    scheme = "https" if context is not None else "http"
    request = urllib.request.Request(
        f"{scheme}://{client.host}:{client.port}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5, context=context) as response:
        return json.loads(response.read())


def _context(lab: LabContext, cafile: str, pair: tuple[str, str] | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=cafile)
    if pair is not None:
        context.load_cert_chain(*pair)
    return context


def _other_ca(tmp_path: Path) -> tuple[str, tuple[str, str]]:
    """Another CA (same name and kind of key) and a client certificate it signed for ``iklim``."""
    now = datetime.now(UTC)
    ca = create_ca("iklim prod lab CA", 30, now)
    member = Member(TOOL_ETCD_CLIENT, "iklim", (), (), server=False, client=True, clusters=("etcd",))
    leaf = issue(member, ca, 30, now)
    paths = tmp_path / "other_ca.crt", tmp_path / "other_client.crt", tmp_path / "other_client.key"
    for path, pem in zip(paths, (ca.cert, leaf.cert, leaf.key), strict=True):
        path.write_bytes(pem)
    return str(paths[0]), (str(paths[1]), str(paths[2]))


def test_the_settings_ask_tls_and_client_certificates(lab: LabContext) -> None:
    pair = etcd_client_files(lab.env, lab.target)
    assert pair is not None and all(Path(p).is_file() for p in pair)
    status = _post(lab, _members(lab)[0], "/v3/maintenance/status", {}, ssl_context(lab.env, lab.target, "etcd"))
    assert status["leader"] != "0"


def test_patroni_holds_its_leader_key_through_its_own_certificate(lab: LabContext) -> None:
    """Patroni's etcd3 client presents ``patroni-etcd-client``: the leader key it keeps is there."""
    scope = lab.env.services.patroni.scope
    key = f"/service/{scope}/leader"
    reply = _post(lab, _members(lab)[1], "/v3/kv/range", {"key": _b64(key)}, ssl_context(lab.env, lab.target, "etcd"))
    values = [base64.b64decode(kv["value"]).decode() for kv in reply.get("kvs", [])]
    assert len(values) == 1 and values[0].startswith("patroni-"), reply


def test_the_apisix_config_writer_writes_a_route_with_its_certificate(lab: LabContext) -> None:
    """APISIX cannot run here: its client path is the v3 gateway with its own certificate
    (``apisix-etcd-client``, as the rendered ``deployment.etcd.tls`` names it)."""
    pki = Path(lab.target.pki_dir())
    stem = "tls_" + APISIX_ETCD_CLIENT.replace("-", "_")
    context = _context(lab, ca_file(lab.env, lab.target, "etcd"), (str(pki / f"{stem}_crt"), str(pki / f"{stem}_key")))
    route = json.dumps({"uri": "/tls-probe", "upstream": {"nodes": {"127.0.0.1:1": 1}}})
    members = _members(lab)
    _post(lab, members[0], "/v3/kv/put", {"key": _b64("/apisix/routes/tls-probe"), "value": _b64(route)}, context)
    reply = _post(lab, members[2], "/v3/kv/range", {"key": _b64("/apisix/routes/tls-probe")}, context)
    assert [base64.b64decode(kv["value"]).decode() for kv in reply["kvs"]] == [route]


def test_the_status_probe_and_the_drill_writer_verify_every_member(lab: LabContext) -> None:
    cafile = ca_file(lab.env, lab.target, "etcd")
    pair = etcd_client_files(lab.env, lab.target)
    for member in _members(lab):
        client = lab.target.endpoint(member, "client")
        reply = NetTransport().http(
            "POST",
            client.host,
            client.port,
            "/v3/maintenance/status",
            timeout=5,
            body={},
            ca_file=cafile,
            client_cert=pair,
        )
        assert reply.status == 200 and reply.body["header"]["member_id"], reply.text
        assert labplanned.etcd_api(lab, member, "/v3/maintenance/status")["leader"] != "0"
    endpoints = [(a.host, a.port) for a in (lab.target.endpoint(m, "client") for m in _members(lab))]
    workload = EtcdWorkload(endpoints, "tls-good", context=ssl_context(lab.env, lab.target, "etcd"))
    workload.setup()
    client = workload.client()
    try:
        for value in ("a", "b", "c"):
            client.write(value)
    finally:
        client.close()
    assert sorted(workload.final_read()) == ["a", "b", "c"]


def test_plaintext_and_uncertified_and_foreign_clients_are_refused(lab: LabContext, tmp_path: Path) -> None:
    member = _members(lab)[0]
    client = lab.target.endpoint(member, "client")
    cafile = ca_file(lab.env, lab.target, "etcd")
    other_ca, other_pair = _other_ca(tmp_path)
    with pytest.raises(OSError):  # plain HTTP to the TLS listener gets no HTTP answer
        _post(lab, member, "/v3/maintenance/status", {}, None)
    with pytest.raises(ProbeError) as no_cert:  # verified server, no client certificate
        NetTransport().http("POST", client.host, client.port, "/v3/kv/range", timeout=5, body={}, ca_file=cafile)
    assert "TLS failed" in str(no_cert.value) or "closed" in str(no_cert.value), str(no_cert.value)
    with pytest.raises(OSError) as foreign:  # a client certificate another CA signed: etcd's alert
        _post(lab, member, "/v3/kv/range", {"key": _b64("/")}, _context(lab, cafile, other_pair))
    # etcd's alert, or (TLS 1.3: the client's side of the handshake is done before the server
    # checks its certificate) the connection closed or reset without it: SSLEOFError once in CI
    error = foreign.value
    reason = error.reason if isinstance(error, urllib.error.URLError) else error
    assert isinstance(reason, (ssl.SSLError, ConnectionResetError, BrokenPipeError)), repr(reason)
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):  # a client trusting another CA
        _post(
            lab,
            member,
            "/v3/kv/range",
            {"key": _b64("/")},
            _context(lab, other_ca, etcd_client_files(lab.env, lab.target)),
        )
    endpoints = [(client.host, client.port)]
    bad = EtcdWorkload(endpoints, "tls-bad", context=_context(lab, other_ca, None)).client()
    with pytest.raises(Refused):  # nothing was sent: the handshake failed
        bad.write("x")
    bad.close()
