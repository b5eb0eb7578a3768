"""Patroni/PostgreSQL x3 on 127.0.1.1-3 against the lab etcd; run unprivileged when we are root.

Patroni runs from a venv built on the system Python (``/opt/iklim-lab/venv``, made by
``scripts/install-lab.sh``): a pyenv interpreter under /root is unreadable by the lab user.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from iklim.components.base import member_names
from iklim.components.patroni import ETCD_CLIENT, SECRETS, member_config
from iklim.components.trust import CA_SECRET, ca_file, scheme, secret_names, tls_on
from iklim.components.yamlout import dump_yaml
from iklim.lab.components.base import LabComponent
from iklim.lab.context import LabContext, write_private
from iklim.lab.pkifiles import lab_pki, place
from iklim.lab.probes import http_json, wait_for
from iklim.lab.supervisor import ProcessSpec

LAB_VENV = Path("/opt/iklim-lab/venv")
REST_USER = "patroni"


def patroni_binary() -> str | None:
    """The venv's patroni when we are root (it must be readable by the lab user), else PATH's."""
    venv = LAB_VENV / "bin" / "patroni"
    if os.geteuid() == 0:
        return str(venv) if venv.exists() else None
    return shutil.which("patroni") or (str(venv) if venv.exists() else None)


class PatroniLab(LabComponent):
    name = "patroni"
    needs = ("etcd",)

    def missing(self) -> str | None:
        if patroni_binary() is None:
            return f"not available on this host (no patroni in {LAB_VENV}: run scripts/install-lab.sh)"
        return None

    def members(self, ctx: LabContext) -> list[str]:
        return member_names("patroni", ctx.env.services.patroni.members)

    def processes(self, ctx: LabContext) -> list[ProcessSpec]:
        user = ctx.unprivileged_user
        env = {var: ctx.secret(secret) for var, secret in SECRETS.items()}
        env["PATRONI_RESTAPI_USERNAME"] = REST_USER
        specs = []
        tls = tls_on(ctx.env, "postgresql") or tls_on(ctx.env, "patroni_api")
        etcd_tls = tls_on(ctx.env, "etcd")
        if tls or etcd_tls:
            lab_pki(ctx)
        for member in self.members(ctx):
            # before the chown below: the keys must be the lab user's (PostgreSQL checks)
            names = [*(secret_names(member) if tls else ()), *(secret_names(ETCD_CLIENT) if etcd_tls else ())]
            if names:
                place(ctx, member, [CA_SECRET, *names])
            config = member_config(ctx.env, ctx.target, member)
            folder = ctx.target.member_dir(member)
            for key in ("pgpass",):
                Path(config["postgresql"][key]).parent.mkdir(parents=True, exist_ok=True)
            Path(config["postgresql"]["parameters"]["unix_socket_directories"]).mkdir(parents=True, exist_ok=True)
            write_private(folder / "patroni.yml", dump_yaml(config))
            ctx.member_dir(member, owner=user)
            os.chmod(folder / "data", 0o700)
            binary = patroni_binary() or "patroni"
            specs.append(ProcessSpec(member, (binary, str(folder / "patroni.yml")), folder, env, user))
        return specs

    def cluster(self, ctx: LabContext) -> dict[str, object]:
        for member in self.members(ctx):
            try:
                api = ctx.target.endpoint(member, "patroni-api")
                url = f"{scheme(ctx.env, 'patroni_api')}://{api.host}:{api.port}/cluster"
                ca = ca_file(ctx.env, ctx.target, "patroni_api")
                data: dict[str, object] = http_json(url, timeout=1, ca_file=ca)
                return data
            except OSError:
                continue
        raise OSError("no Patroni REST API answers")

    def _summary(self, ctx: LabContext) -> tuple[bool, str]:
        members = self.cluster(ctx).get("members", [])
        assert isinstance(members, list)
        leaders = [m["name"] for m in members if m.get("role") == "leader" and m.get("state") == "running"]
        streaming = [m["name"] for m in members if m.get("role") != "leader" and m.get("state") == "streaming"]
        ok = len(leaders) == 1 and len(streaming) == len(self.members(ctx)) - 1
        leader = leaders[0] if leaders else "none"
        return ok, f"leader {leader}, {len(streaming)} streaming replicas"

    def wait_ready(self, ctx: LabContext, deadline: float) -> str:
        def ready() -> str | None:
            ok, words = self._summary(ctx)
            return words if ok else None

        return wait_for(ready, deadline, "one Patroni leader and streaming replicas", interval=0.5)

    def health(self, ctx: LabContext) -> tuple[bool, str]:
        try:
            return self._summary(ctx)
        except OSError as exc:
            return False, str(exc)
