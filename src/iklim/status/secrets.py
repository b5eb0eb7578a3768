"""Where probes get credentials: the lab's secret files, or environment variables in production.

Values are only ever put on the wire (an Authorization header, AUTH, a token header); they are
never part of a reply, an error message or the output.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

#: Secret name -> production environment variables, first set wins (``NAME_FILE`` reads a file).
PRODUCTION_VARIABLES: dict[str, tuple[str, ...]] = {
    "redis_password": ("IKLIM_REDIS_PASSWORD",),
    "rabbitmq_admin_password": ("IKLIM_RABBITMQ_ADMIN_PASSWORD",),
    "vault_token": ("VAULT_TOKEN", "BAO_TOKEN"),
    "mongodb_exporter_password": ("IKLIM_MONGODB_EXPORTER_PASSWORD",),
    "mongodb_root_password": ("IKLIM_MONGODB_ROOT_PASSWORD",),
    "apisix_admin_key": ("IKLIM_APISIX_ADMIN_KEY",),
}


class Secrets(Protocol):
    def get(self, name: str) -> str | None:
        """The secret ``name`` or None when it is not available (the probe then says so)."""


class LabSecrets:
    """The lab's generated secrets under ``root/secrets`` and its Vault custody file."""

    def __init__(self, root: Path) -> None:
        self.folder = root / "secrets"

    def get(self, name: str) -> str | None:
        try:
            if name == "vault_token":
                token = json.loads((self.folder / "vault-init.json").read_text()).get("root_token")
                return str(token) if token else None
            return (self.folder / name).read_text().strip() or None
        except (OSError, ValueError):
            return None


class EnvironmentSecrets:
    """Production: ``IKLIM_REDIS_PASSWORD`` (or ``IKLIM_REDIS_PASSWORD_FILE``), ``VAULT_TOKEN``..."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ

    def get(self, name: str) -> str | None:
        for variable in PRODUCTION_VARIABLES.get(name, ()):
            if self.environ.get(variable):
                return self.environ[variable]
            path = self.environ.get(f"{variable}_FILE")
            if path:
                try:
                    return Path(path).read_text().strip() or None
                except OSError:
                    return None
        return None
