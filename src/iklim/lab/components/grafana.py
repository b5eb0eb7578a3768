"""Grafana on its service node's lab address when ``grafana-server`` is on PATH (no package here).

It runs with the production ``GF_*`` settings (admin password from a file, data path), the
rendered datasource provisioning, pointed by the lab target at the lab's Prometheus, and the
rendered dashboards with their provider (``iklim.components.dashboards``). Ready means
``/api/health`` reports the database ok and the provisioned datasource is the lab's Prometheus.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from iklim.components import dashboards
from iklim.components.grafana import ADMIN_PASSWORD, datasources, settings
from iklim.lab.components.base import LabComponent
from iklim.lab.context import LabContext, write_private
from iklim.lab.probes import http_json, wait_for
from iklim.lab.supervisor import ProcessSpec

MEMBER = "grafana-1"
#: Provisioning folders Grafana scans at start; an absent one is logged as an error.
PROVISIONING = ("datasources", "dashboards", "plugins", "alerting", "notifiers")


def grafana_home() -> str:
    """Grafana's static files: ``IKLIM_GRAFANA_HOME``, the Debian/RPM path, or next to the binary."""
    configured = os.environ.get("IKLIM_GRAFANA_HOME")
    if configured:
        return configured
    if Path("/usr/share/grafana/conf/defaults.ini").exists():
        return "/usr/share/grafana"
    binary = Path(shutil.which("grafana-server") or "grafana-server").resolve()
    return str(binary.parent.parent)


class GrafanaLab(LabComponent):
    name = "grafana"
    binaries = ("grafana-server",)

    def url(self, ctx: LabContext) -> str:
        return "http://{0.host}:{0.port}".format(ctx.target.endpoint(MEMBER, "http"))

    def processes(self, ctx: LabContext) -> list[ProcessSpec]:
        folder = ctx.member_dir(MEMBER)
        provisioning = folder / "provisioning"
        for sub in PROVISIONING:
            (provisioning / sub).mkdir(parents=True, exist_ok=True)
        write_private(provisioning / "datasources" / "prometheus.yml", datasources(ctx.env, ctx.target), mode=0o644)
        # the rendered dashboards, from the folder the rendered provider names for this target
        provider = dashboards.provider(ctx.env, ctx.target, MEMBER)
        write_private(provisioning / "dashboards" / "iklim.yml", provider, mode=0o644)
        folder_json = Path(ctx.target.path(MEMBER, dashboards.JSON_TARGET))
        folder_json.mkdir(parents=True, exist_ok=True)
        for path, text in dashboards.files(ctx.env).items():
            write_private(folder_json / Path(path).name, text, mode=0o644)
        write_private(Path(ctx.target.path(MEMBER, f"/run/secrets/{ADMIN_PASSWORD}")), ctx.secret(ADMIN_PASSWORD))
        environ = {
            **settings(ctx.env, ctx.target, MEMBER),
            "GF_SERVER_HTTP_ADDR": ctx.target.host(MEMBER),
            "GF_SERVER_HTTP_PORT": str(ctx.target.endpoint(MEMBER, "http").port),
            "GF_PATHS_LOGS": str(folder / "logs"),
            "GF_PATHS_PLUGINS": str(folder / "plugins"),
            "GF_PATHS_PROVISIONING": str(provisioning),
            "GF_ANALYTICS_CHECK_FOR_UPDATES": "false",
        }
        home = grafana_home()
        argv = (shutil.which("grafana-server") or "grafana-server", f"--homepath={home}")
        return [ProcessSpec(MEMBER, argv, folder, environ)]

    def _datasource_url(self, ctx: LabContext) -> str | None:
        auth = ("admin", ctx.secret(ADMIN_PASSWORD))
        body = http_json(f"{self.url(ctx)}/api/datasources/uid/prometheus", auth=auth, timeout=1)
        return str(body.get("url")) if isinstance(body, dict) and body.get("url") else None

    def wait_ready(self, ctx: LabContext, deadline: float) -> str:
        def healthy() -> str | None:
            body = http_json(f"{self.url(ctx)}/api/health", timeout=1)
            if not isinstance(body, dict) or body.get("database") != "ok":
                return None
            return str(body.get("version", "unknown"))

        version = wait_for(healthy, deadline, "Grafana's /api/health to report the database ok")
        expected = "http://{0.host}:{0.port}".format(ctx.target.endpoint("prometheus-1", "http"))
        url = wait_for(lambda: self._datasource_url(ctx), deadline, "the provisioned Prometheus datasource")
        if url != expected:
            raise ValueError(f"the Prometheus datasource points at {url}, not the lab's {expected}")
        return f"version {version}, datasource {url}"

    def health(self, ctx: LabContext) -> tuple[bool, str]:
        try:
            body = http_json(f"{self.url(ctx)}/api/health", timeout=1)
        except OSError as exc:
            return False, str(exc)
        database = body.get("database") if isinstance(body, dict) else None
        return database == "ok", f"database {database or 'unknown'}"
