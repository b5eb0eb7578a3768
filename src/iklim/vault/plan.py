"""Where the Vault members are and where their keys are kept, for the lab or production."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from iklim.components.base import member_names
from iklim.components.target import LabTarget, ProductionTarget, Target
from iklim.model.schema import Environment, VaultDayOne
from iklim.vault.api import VaultMember
from iklim.vault.custody import KeyCustody


@dataclass(frozen=True)
class VaultPlan:
    """The members (name -> API URL), the model's init/day-one settings and the key custody."""

    members: tuple[tuple[str, str], ...]
    shares: int
    threshold: int
    pgp_keys: tuple[str, ...]
    stabilization_s: int
    day_one: VaultDayOne
    custody: KeyCustody

    def clients(self, timeout: float = 10.0) -> list[VaultMember]:
        return [VaultMember(name, url, timeout=timeout) for name, url in self.members]

    def url(self, name: str) -> str:
        return dict(self.members)[name]


def _plan(env: Environment, urls: list[tuple[str, str]], keys_file: Path) -> VaultPlan:
    spec = env.services.vault
    return VaultPlan(
        members=tuple(urls),
        shares=spec.key_shares,
        threshold=spec.key_threshold,
        pgp_keys=tuple(spec.pgp_keys),
        stabilization_s=spec.autopilot_stabilization_s,
        day_one=spec.day_one,
        custody=KeyCustody(keys_file, pgp=bool(spec.pgp_keys)),
    )


def lab_plan(env: Environment, root: Path, keys_file: Path | None = None, target: LabTarget | None = None) -> VaultPlan:
    """The lab's OpenBao members on 127.0.3.N; keys in the lab's secrets folder by default."""
    target = target or LabTarget(env, root.resolve())
    return _plan(env, _urls(env, target), keys_file or root.resolve() / "secrets" / "vault-init.json")


def prod_plan(env: Environment, keys_file: Path | None = None) -> VaultPlan:
    """Production: each member's API in host mode on its node's private address."""
    return _plan(env, _urls(env, ProductionTarget(env)), keys_file or Path(env.services.vault.keys_file))


def _urls(env: Environment, target: Target) -> list[tuple[str, str]]:
    """Member -> API URL, as the target reaches each member's ``api`` port."""
    names = member_names("vault", env.services.vault.members)
    return [(name, "http://{0.host}:{0.port}".format(target.endpoint(name, "api"))) for name in names]
