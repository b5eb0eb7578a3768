"""Where the Vault members are and where their keys are kept, for the lab or production."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from iklim.components.base import member_names
from iklim.components.target import LabTarget, ProductionTarget, Target
from iklim.components.trust import scheme, verify
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
    #: requests' ``verify``: the CA file when the model puts Vault on TLS (:mod:`iklim.components.trust`).
    verify: str | bool = True

    def clients(self, timeout: float = 10.0) -> list[VaultMember]:
        return [VaultMember(name, url, timeout=timeout, verify=self.verify) for name, url in self.members]

    def member(self, name: str, token: str | None = None, timeout: float = 5.0) -> VaultMember:
        """The client of member ``name`` (KeyError when it is not a member)."""
        return VaultMember(name, self.url(name), token, timeout, self.verify)

    def url(self, name: str) -> str:
        return dict(self.members)[name]


def member_urls(env: Environment, target: Target) -> dict[str, str]:
    """member -> its API URL as ``target`` reaches it: ``https://`` when the model puts Vault on
    TLS (``tls.clusters.vault``), never a fallback to ``http://``."""
    names = member_names("vault", env.services.vault.members)
    return {
        name: "{0}://{1.host}:{1.port}".format(scheme(env, "vault"), target.endpoint(name, "api")) for name in names
    }


def _plan(env: Environment, urls: list[tuple[str, str]], keys_file: Path, verify: str | bool = True) -> VaultPlan:
    spec = env.services.vault
    return VaultPlan(
        members=tuple(urls),
        shares=spec.key_shares,
        threshold=spec.key_threshold,
        pgp_keys=tuple(spec.pgp_keys),
        stabilization_s=spec.autopilot_stabilization_s,
        day_one=spec.day_one,
        custody=KeyCustody(keys_file, pgp=bool(spec.pgp_keys)),
        verify=verify,
    )


def vault_plan(env: Environment, target: Target, keys_file: Path | None = None) -> VaultPlan:
    """The members as ``target`` reaches their ``api`` port, and the custody file (``keys_file``,
    else the target's: the model's ``keys_file`` in production, the lab's secrets folder)."""
    urls = list(member_urls(env, target).items())
    return _plan(env, urls, keys_file or target.vault_keys_file(), verify(env, target, "vault"))


def lab_plan(env: Environment, root: Path, keys_file: Path | None = None, target: LabTarget | None = None) -> VaultPlan:
    """The lab's OpenBao members on 127.0.3.N; keys in the lab's secrets folder by default."""
    keys = keys_file or root.resolve() / "secrets" / "vault-init.json"
    return vault_plan(env, target or LabTarget(env, root.resolve()), keys)


def prod_plan(env: Environment, keys_file: Path | None = None) -> VaultPlan:
    """Production: each member's API in host mode on its node's private address."""
    return vault_plan(env, ProductionTarget(env), keys_file)
