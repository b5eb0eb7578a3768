"""etcd x3 on 127.0.1.1-3, with the production member settings (ETCD_* variables)."""

from __future__ import annotations

import json
import shutil
import ssl
import urllib.request

from iklim.components.base import member_names
from iklim.components.etcd import member_settings
from iklim.components.trust import CA_SECRET, scheme, secret_names, ssl_context, tls_on
from iklim.lab.components.base import LabComponent
from iklim.lab.context import LabContext
from iklim.lab.pkifiles import lab_pki, place
from iklim.lab.probes import wait_for
from iklim.lab.supervisor import ProcessSpec


class EtcdLab(LabComponent):
    name = "etcd"
    binaries = ("etcd",)

    def members(self, ctx: LabContext) -> list[str]:
        return member_names("etcd", ctx.env.services.etcd.members)

    def processes(self, ctx: LabContext) -> list[ProcessSpec]:
        specs = []
        token = f"--initial-cluster-token={ctx.env.services.etcd.cluster_token}"
        tls = tls_on(ctx.env, "etcd")
        if tls:
            lab_pki(ctx)
        for member in self.members(ctx):
            folder = ctx.member_dir(member)
            if tls:
                place(ctx, member, [CA_SECRET, *secret_names(member)])
            binary = shutil.which("etcd") or "etcd"
            settings = member_settings(ctx.env, ctx.target, member)
            specs.append(ProcessSpec(member, (binary, token), folder, settings))
        return specs

    def _url(self, ctx: LabContext, member: str, path: str) -> str:
        client = ctx.target.endpoint(member, "client")
        return f"{scheme(ctx.env, 'etcd')}://{client.host}:{client.port}{path}"

    def _leaders(self, ctx: LabContext) -> list[str]:
        context = ssl_context(ctx.env, ctx.target, "etcd")
        leaders = []
        for member in self.members(ctx):
            url = self._url(ctx, member, "/v3/maintenance/status")
            leaders.append(str(_post_json(url, context).get("leader", "0")))
        return leaders

    def wait_ready(self, ctx: LabContext, deadline: float) -> str:
        def agreed() -> str | None:
            leaders = self._leaders(ctx)
            return leaders[0] if len(set(leaders)) == 1 and leaders[0] != "0" else None

        wait_for(agreed, deadline, "one etcd leader agreed by every member")
        return f"{len(self.members(ctx))} members, one leader"

    def health(self, ctx: LabContext) -> tuple[bool, str]:
        up = 0
        try:
            context = ssl_context(ctx.env, ctx.target, "etcd")
        except OSError as exc:
            return False, str(exc)
        for member in self.members(ctx):
            try:
                body = _get_json(self._url(ctx, member, "/health"), context)
                up += body.get("health") == "true"
            except (OSError, ValueError):
                pass
        total = len(self.members(ctx))
        return up == total, f"{up}/{total} members healthy"


def _post_json(url: str, context: ssl.SSLContext | None) -> dict[str, object]:
    """etcd 3.4's gRPC gateway answers POST with a JSON body; ``context``: the tool's client TLS
    (:func:`iklim.components.trust.ssl_context`), None for plaintext."""
    request = urllib.request.Request(url, data=b"{}", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=1, context=context) as response:
        data: dict[str, object] = json.loads(response.read())
    return data


def _get_json(url: str, context: ssl.SSLContext | None) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=1, context=context) as response:
        data: dict[str, object] = json.loads(response.read())
    return data
