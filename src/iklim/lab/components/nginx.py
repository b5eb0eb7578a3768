"""nginx serving the rendered SWAG sites on the SWAG node's lab address: RabbitMQ management
(443) and ``stub_status`` (8080) for the exporter.

SWAG's own includes (ssl.conf, proxy.conf, resolver.conf) are stood in by small files in the lab,
with a self-signed certificate; the site itself is the production template with the lab target.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import partial
from pathlib import Path

from iklim.components.swag import rabbitmq_site, status_site
from iklim.lab.components.base import LabComponent
from iklim.lab.context import LAB_USER, LabContext, write_private
from iklim.lab.probes import tcp_open, wait_for
from iklim.lab.supervisor import ProcessSpec

MEMBER = "swag-1"


def self_signed_certificate(key: Path, cert: Path, common_name: str, days: int = 1) -> None:
    """An RSA key and a self-signed certificate for ``common_name`` (openssl; raises on failure)."""
    argv = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", str(days)]
    argv += ["-subj", f"/CN={common_name}", "-keyout", str(key), "-out", str(cert)]
    subprocess.run(argv, check=True, capture_output=True)


def _listening(address: str, port: int) -> bool | None:
    return True if tcp_open(address, port) else None


class NginxLab(LabComponent):
    name = "swag"  # the catalogue key: SWAG's nginx with the rendered sites
    binaries = ("nginx", "openssl")

    def processes(self, ctx: LabContext) -> list[ProcessSpec]:
        folder = ctx.member_dir(MEMBER)
        config = Path(ctx.target.path(MEMBER, "/config"))
        (config / "nginx").mkdir(parents=True, exist_ok=True)
        key, cert = config / "keys" / "cert.key", config / "keys" / "cert.crt"
        if not cert.exists():
            key.parent.mkdir(parents=True, exist_ok=True)
            self_signed_certificate(key, cert, ctx.env.services.rabbitmq.management_host, days=30)
        write_private(config / "nginx" / "ssl.conf", f"ssl_certificate {cert};\nssl_certificate_key {key};\n", 0o644)
        write_private(
            config / "nginx" / "proxy.conf",
            "proxy_set_header Host $host;\nproxy_set_header X-Real-IP $remote_addr;\n",
            0o644,
        )
        write_private(config / "nginx" / "resolver.conf", "# upstreams are addresses in the lab\n", 0o644)
        write_private(folder / "site.conf", rabbitmq_site(ctx.env, ctx.target), 0o644)
        write_private(folder / "status.conf", status_site(ctx.env, ctx.target), 0o644)
        temp = folder / "temp"
        temp.mkdir(exist_ok=True)
        user = f"user {LAB_USER};\n" if os.geteuid() == 0 else ""
        if user:
            shutil.chown(temp, LAB_USER)
        main = (
            f"{user}daemon off;\nworker_processes 1;\npid {folder / 'nginx.pid'};\nerror_log stderr warn;\n"
            "events { worker_connections 256; }\n"
            "http {\n"
            f"  access_log {folder / 'access.log'};\n"
            f"  client_body_temp_path {temp}/body;\n  proxy_temp_path {temp}/proxy;\n"
            f"  fastcgi_temp_path {temp}/fastcgi;\n  uwsgi_temp_path {temp}/uwsgi;\n  scgi_temp_path {temp}/scgi;\n"
            f"  include {folder / 'site.conf'};\n"
            f"  include {folder / 'status.conf'};\n"
            "}\n"
        )
        write_private(folder / "nginx.conf", main, 0o644)
        binary = shutil.which("nginx") or "nginx"
        return [ProcessSpec(MEMBER, (binary, "-p", str(folder), "-c", str(folder / "nginx.conf")), folder)]

    def wait_ready(self, ctx: LabContext, deadline: float) -> str:
        https, status = ctx.target.endpoint(MEMBER, "https"), ctx.target.endpoint(MEMBER, "status")
        for where in (https, status):
            wait_for(partial(_listening, where.host, where.port), deadline, f"nginx on {where.host}:{where.port}")
        return (
            f"serving the RabbitMQ management site on https://{https.host}:{https.port}, stub_status on {status.port}"
        )

    def health(self, ctx: LabContext) -> tuple[bool, str]:
        https = ctx.target.endpoint(MEMBER, "https")
        ok = tcp_open(https.host, https.port)
        return ok, f"{https.host}:{https.port} {'listening' if ok else 'not listening'}"
