"""nginx-prometheus-exporter (Debian's prometheus-nginx-exporter) reading the lab nginx's
``stub_status``, with the flags production renders for ``swag-exporter``."""

from __future__ import annotations

import shutil
import urllib.request

from iklim.components.swag import EXPORTER, exporter_args
from iklim.lab.components.base import LabComponent
from iklim.lab.context import LabContext
from iklim.lab.probes import wait_for
from iklim.lab.supervisor import ProcessSpec

MEMBER = f"{EXPORTER}-1"
BINARY = "prometheus-nginx-exporter"


class SwagExporterLab(LabComponent):
    name = EXPORTER
    binaries = (BINARY,)
    needs = ("swag",)  # the exporter exits at start when stub_status does not answer

    def processes(self, ctx: LabContext) -> list[ProcessSpec]:
        folder = ctx.member_dir(MEMBER)
        return [ProcessSpec(MEMBER, (shutil.which(BINARY) or BINARY, *exporter_args(ctx.target)), folder)]

    def nginx_up(self, ctx: LabContext) -> bool:
        """True when the exporter reads nginx's stub_status (its ``nginx_up`` gauge is 1)."""
        url = "http://{0.host}:{0.port}/metrics".format(ctx.target.endpoint(MEMBER, "exporter"))
        with urllib.request.urlopen(url, timeout=1) as response:
            return "\nnginx_up 1\n" in "\n" + response.read().decode() + "\n"

    def wait_ready(self, ctx: LabContext, deadline: float) -> str:
        wait_for(lambda: True if self.nginx_up(ctx) else None, deadline, "the exporter to read stub_status")
        where = ctx.target.endpoint(MEMBER, "exporter")
        return f"reading stub_status, metrics on {where.host}:{where.port}"

    def health(self, ctx: LabContext) -> tuple[bool, str]:
        try:
            ok = self.nginx_up(ctx)
        except OSError as exc:
            return False, str(exc)
        return ok, "nginx_up 1" if ok else "nginx_up 0: stub_status unreachable"
