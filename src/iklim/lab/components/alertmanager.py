"""Alertmanager (Debian's prometheus-alertmanager) on its service node's lab address.

It runs the production config with one change: each receiver keeps its name and route but loses
its integrations (email, webhook), so the lab never sends traffic to the model's SMTP host or
webhook URL from this machine. Alerts still arrive, group and show in ``/api/v2/alerts``.
"""

from __future__ import annotations

import shutil

from iklim.components.alertmanager import config
from iklim.components.yamlout import dump_yaml
from iklim.lab.components.base import LabComponent
from iklim.lab.context import LabContext, write_private
from iklim.lab.probes import http_json, wait_for
from iklim.lab.supervisor import ProcessSpec

MEMBER = "alertmanager-1"
BINARY = "prometheus-alertmanager"


class AlertmanagerLab(LabComponent):
    name = "alertmanager"
    binaries = (BINARY,)

    def url(self, ctx: LabContext) -> str:
        return "http://{0.host}:{0.port}".format(ctx.target.endpoint(MEMBER, "http"))

    def processes(self, ctx: LabContext) -> list[ProcessSpec]:
        folder = ctx.member_dir(MEMBER)
        document = config(ctx.env, ctx.target.path(MEMBER, "/run/secrets"))
        document["receivers"] = [{"name": r["name"]} for r in document["receivers"]]
        write_private(folder / "alertmanager.yml", dump_yaml(document), mode=0o644)
        argv = (
            shutil.which(BINARY) or BINARY,
            f"--config.file={folder / 'alertmanager.yml'}",
            f"--storage.path={folder / 'data'}",
            "--web.listen-address={0.host}:{0.port}".format(ctx.target.endpoint(MEMBER, "http")),
            "--cluster.listen-address=",
        )
        return [ProcessSpec(MEMBER, argv, folder)]

    def wait_ready(self, ctx: LabContext, deadline: float) -> str:
        def ready() -> str | None:
            status = http_json(f"{self.url(ctx)}/api/v2/status", timeout=1)
            return "ready" if status.get("config") else None

        wait_for(ready, deadline, "Alertmanager to be ready")
        return f"ready on {self.url(ctx)}"

    def health(self, ctx: LabContext) -> tuple[bool, str]:
        try:
            alerts = http_json(f"{self.url(ctx)}/api/v2/alerts", timeout=2)
        except OSError as exc:
            return False, str(exc)
        return True, f"{len(alerts)} alerts received"
