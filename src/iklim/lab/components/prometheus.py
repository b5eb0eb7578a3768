"""Prometheus on its model node's lab address, scraping every component the lab runs."""

from __future__ import annotations

import shutil

from iklim.components.alerts import rule_files
from iklim.components.prometheus import needs_ca, scrape_config, tls_files
from iklim.components.yamlout import dump_yaml
from iklim.lab.components.base import LabComponent
from iklim.lab.context import LabContext, write_private
from iklim.lab.pkifiles import lab_pki, place
from iklim.lab.probes import http_json, wait_for
from iklim.lab.supervisor import ProcessSpec

MEMBER = "prometheus-1"


class PrometheusLab(LabComponent):
    name = "prometheus"
    binaries = ("prometheus",)

    def __init__(self, scraped: frozenset[str] = frozenset()) -> None:
        self.scraped = scraped | {"prometheus"}

    def url(self, ctx: LabContext) -> str:
        return "http://{0.host}:{0.port}".format(ctx.target.endpoint(MEMBER, "http"))

    def processes(self, ctx: LabContext) -> list[ProcessSpec]:
        folder = ctx.member_dir(MEMBER)
        rules = rule_files(ctx.env, self.scraped)
        paths = []
        for key, text in rules.items():
            write_private(folder / "rules" / f"{key}.yml", text, mode=0o644)
            paths.append(str(folder / "rules" / f"{key}.yml"))
        config = scrape_config(ctx.env, ctx.target, available=self.scraped, rule_paths=paths)
        if needs_ca(config):
            lab_pki(ctx)
            place(ctx, MEMBER, tls_files(config))
        write_private(folder / "prometheus.yml", dump_yaml(config), mode=0o644)
        argv = (
            shutil.which("prometheus") or "prometheus",
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}",
            "--web.listen-address={0.host}:{0.port}".format(ctx.target.endpoint(MEMBER, "http")),
            f"--storage.tsdb.retention.time={ctx.env.services.prometheus.retention}",
            "--web.enable-lifecycle",
        )
        return [ProcessSpec(MEMBER, argv, folder)]

    def targets(self, ctx: LabContext) -> list[dict[str, object]]:
        data = http_json(f"{self.url(ctx)}/api/v1/targets?state=active", timeout=2)
        active: list[dict[str, object]] = data["data"]["activeTargets"]
        return active

    def wait_ready(self, ctx: LabContext, deadline: float) -> str:
        def ready() -> str | None:
            import urllib.request

            with urllib.request.urlopen(f"{self.url(ctx)}/-/ready", timeout=1) as response:
                return "ready" if response.status == 200 else None

        wait_for(ready, deadline, "Prometheus to be ready")
        return f"ready, scraping {len(self.targets(ctx))} targets"

    def health(self, ctx: LabContext) -> tuple[bool, str]:
        try:
            targets = self.targets(ctx)
        except OSError as exc:
            return False, str(exc)
        down = [str(t.get("scrapeUrl")) for t in targets if t.get("health") == "down"]
        up = sum(1 for t in targets if t.get("health") == "up")
        return not down, f"{up}/{len(targets)} targets up" + (f"; down: {', '.join(down)}" if down else "")
