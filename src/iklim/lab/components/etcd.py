"""etcd x3 on 127.0.1.1-3, with the production member settings (ETCD_* variables)."""

from __future__ import annotations

import json
import shutil
import urllib.request

from iklim.components.base import member_names
from iklim.components.etcd import member_settings
from iklim.lab.components.base import LabComponent
from iklim.lab.context import LabContext
from iklim.lab.probes import http_json, wait_for
from iklim.lab.supervisor import ProcessSpec


class EtcdLab(LabComponent):
    name = "etcd"
    binaries = ("etcd",)

    def members(self, ctx: LabContext) -> list[str]:
        return member_names("etcd", ctx.env.services.etcd.members)

    def processes(self, ctx: LabContext) -> list[ProcessSpec]:
        specs = []
        token = f"--initial-cluster-token={ctx.env.services.etcd.cluster_token}"
        for member in self.members(ctx):
            folder = ctx.member_dir(member)
            binary = shutil.which("etcd") or "etcd"
            settings = member_settings(ctx.env, ctx.target, member)
            specs.append(ProcessSpec(member, (binary, token), folder, settings))
        return specs

    def _leaders(self, ctx: LabContext) -> list[str]:
        leaders = []
        for member in self.members(ctx):
            client = ctx.target.endpoint(member, "client")
            url = f"http://{client.host}:{client.port}/v3/maintenance/status"
            leaders.append(str(_post_json(url).get("leader", "0")))
        return leaders

    def wait_ready(self, ctx: LabContext, deadline: float) -> str:
        def agreed() -> str | None:
            leaders = self._leaders(ctx)
            return leaders[0] if len(set(leaders)) == 1 and leaders[0] != "0" else None

        wait_for(agreed, deadline, "one etcd leader agreed by every member")
        return f"{len(self.members(ctx))} members, one leader"

    def health(self, ctx: LabContext) -> tuple[bool, str]:
        up = 0
        for member in self.members(ctx):
            try:
                client = ctx.target.endpoint(member, "client")
                body = http_json(f"http://{client.host}:{client.port}/health", timeout=1)
                up += body.get("health") == "true"
            except OSError:
                pass
        total = len(self.members(ctx))
        return up == total, f"{up}/{total} members healthy"


def _post_json(url: str) -> dict[str, object]:
    """etcd 3.4's gRPC gateway answers POST with a JSON body."""
    request = urllib.request.Request(url, data=b"{}", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=1) as response:
        data: dict[str, object] = json.loads(response.read())
    return data
