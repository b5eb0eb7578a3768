"""The seam between the bootstrap and one Vault member's HTTP API (hvac underneath).

Every method either returns plain data or raises :class:`VaultError` naming the member and
saying what went wrong in words; no secret is ever part of a message.
"""

from __future__ import annotations

import os
from typing import Any

import hvac
import requests

from iklim.model.tlswords import tls_reason


class VaultError(Exception):
    """A member is unreachable or refused a request; the message names it."""


class VaultAnswerError(VaultError):
    """A member answered something that is not the Vault API (another service on the port, a
    proxy's error page, JSON of the wrong shape); the message names the member and its address."""


#: http.client's words for a peer that answered, but not with HTTP (inside requests' ConnectionError).
NOT_HTTP = ("BadStatusLine", "LineTooLong", "UnknownProtocol", "InvalidHeader", "HeaderParsingError")


class VaultMember:
    """One member's API: ``name`` (``vault-1``) at ``url``, with an optional token; ``verify``
    is requests' (the CA file an ``https`` URL is verified with; True for the system's CAs)."""

    def __init__(
        self, name: str, url: str, token: str | None = None, timeout: float = 5.0, verify: str | bool = True
    ) -> None:
        self.name, self.url, self.verify = name, url, verify
        self._client = hvac.Client(url=url, token=token, timeout=timeout, verify=verify)

    def with_token(self, token: str, timeout: float = 10.0) -> VaultMember:
        return VaultMember(self.name, self.url, token, timeout, self.verify)

    def _call(self, what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        if self.url.startswith("https://") and isinstance(self.verify, str) and not os.path.isfile(self.verify):
            raise VaultError(
                f"{self.name} ({self.url}): CA file {self.verify} missing or not a file "
                "(set VAULT_CACERT or PKI_DIR, or 'iklim pki init' first)"
            )
        try:
            return call(*args, **kwargs)
        except requests.exceptions.SSLError as exc:
            raise VaultError(f"{self.name} ({self.url}): TLS failed: {tls_reason(exc)}") from None
        except requests.ConnectionError as exc:
            if any(word in repr(exc) for word in NOT_HTTP):
                raise self._malformed(what, "not HTTP") from None
            raise VaultError(f"{self.name} ({self.url}) is unreachable") from None
        except requests.Timeout:
            raise VaultError(f"{self.name} ({self.url}) did not answer in time ({what})") from None
        except hvac.exceptions.VaultError as exc:
            errors = "; ".join(str(e) for e in (exc.errors or [])) or type(exc).__name__
            raise VaultError(f"{self.name} ({self.url}): {what} failed: {errors}") from None
        except (requests.RequestException, ValueError, TypeError, AttributeError) as exc:
            raise self._malformed(what, type(exc).__name__) from None

    def _malformed(self, what: str, detail: str) -> VaultAnswerError:
        return VaultAnswerError(f"{self.name} ({self.url}) did not answer like the Vault API ({what}: {detail})")

    def _object(self, what: str, result: Any, **types: type) -> dict[str, Any]:
        """``result`` as a JSON object whose listed keys have the listed types, else VaultAnswerError."""
        if isinstance(result, requests.Response):
            try:
                result = result.json() if result.content else {}
            except ValueError:
                raise self._malformed(what, "not JSON") from None
        if not isinstance(result, dict):
            raise self._malformed(what, f"a JSON {type(result).__name__}, not an object")
        for key, kind in types.items():
            if not isinstance(result.get(key), kind):
                raise self._malformed(what, f"{key!r} is not a {kind.__name__}")
        return result

    def health(self) -> dict[str, Any]:
        """``/v1/sys/health`` whatever the state (initialized, sealed, standby, cluster_id...); the states
        are named by :func:`iklim.vault.health.health_state`."""
        result = self._call(
            "health",
            self._client.sys.read_health_status,
            standby_ok=True,
            sealed_code=200,
            uninit_code=200,
            performance_standby_code=200,
            method="GET",
        )
        health = self._object("health", result, initialized=bool, sealed=bool)
        if not isinstance(health.get("standby", False), bool):
            raise self._malformed("health", "'standby' is not a bool")
        return health

    def initialize(self, shares: int, threshold: int, pgp_keys: list[str] | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"secret_shares": shares, "secret_threshold": threshold}
        if pgp_keys:  # Vault wants one key per share: the listed keys take the shares in turn
            kwargs["pgp_keys"] = [pgp_keys[i % len(pgp_keys)] for i in range(shares)]
            kwargs["root_token_pgp_key"] = pgp_keys[0]
        return self._object("init", self._call("init", self._client.sys.initialize, **kwargs))

    def seal_status(self) -> dict[str, Any]:
        result = self._call("seal status", self._client.sys.read_seal_status)
        return self._object("seal status", result, sealed=bool, initialized=bool)

    def unseal(self, key: str) -> dict[str, Any]:
        return self._object("unseal", self._call("unseal", self._client.sys.submit_unseal_key, key), sealed=bool)

    def reset_unseal(self) -> None:
        self._call("unseal reset", self._client.sys.submit_unseal_key, reset=True)

    def join(self, leader_url: str) -> None:
        """``sys/storage/raft/join`` to the leader at ``leader_url``; an ``https`` leader is
        verified with this client's CA file, sent as ``leader_ca_cert`` (the joining member dials
        the leader itself: https://developer.hashicorp.com/vault/api-docs/system/storage/raft)."""
        ca = None
        if leader_url.startswith("https://") and isinstance(self.verify, str) and os.path.isfile(self.verify):
            with open(self.verify, encoding="ascii") as handle:
                ca = handle.read()
        self._call("raft join", self._client.sys.join_raft_cluster, leader_url, leader_ca_cert=ca)

    def get(self, path: str) -> dict[str, Any]:
        return self._object(f"GET {path}", self._call(f"GET {path}", self._client.adapter.get, path))

    def data(self, path: str) -> dict[str, Any]:
        """The ``data`` object of ``GET path`` (VaultAnswerError when there is none)."""
        return self._object(f"GET {path}", self.get(path), data=dict)["data"]  # type: ignore[no-any-return]

    def post(self, path: str, payload: dict[str, Any]) -> None:
        self._call(f"POST {path}", self._client.adapter.post, path, json=payload)

    def audit_devices(self) -> dict[str, Any]:
        return self._listing("list audit devices", self._client.sys.list_enabled_audit_devices)

    def _listing(self, what: str, call: Any) -> dict[str, Any]:
        result = self._object(what, self._call(what, call))
        data = result.get("data", result)
        if not isinstance(data, dict):
            raise self._malformed(what, "'data' is not an object")
        return data

    def enable_audit(self, path: str, file_path: str) -> None:
        self._call(
            "enable audit", self._client.sys.enable_audit_device, "file", path=path, options={"file_path": file_path}
        )

    def mounts(self) -> dict[str, Any]:
        return self._listing("list mounts", self._client.sys.list_mounted_secrets_engines)

    def enable_kv2(self, path: str) -> None:
        self._call("enable kv", self._client.sys.enable_secrets_engine, "kv", path=path, options={"version": "2"})

    def policy(self, name: str) -> str | None:
        try:
            result = self._client.sys.read_policy(name)
        except hvac.exceptions.InvalidPath:
            return None
        except requests.ConnectionError:
            raise VaultError(f"{self.name} ({self.url}) is unreachable") from None
        except (requests.RequestException, hvac.exceptions.VaultError, ValueError) as exc:
            raise VaultError(f"{self.name} ({self.url}): read policy {name} failed: {type(exc).__name__}") from None
        result = self._object(f"read policy {name}", result)
        data = result.get("data", result)
        rules = data.get("rules") if isinstance(data, dict) else None
        if rules is not None and not isinstance(rules, str):
            raise self._malformed(f"read policy {name}", "'rules' is not a string")
        return rules

    def write_policy(self, name: str, rules: str) -> None:
        self._call("write policy", self._client.sys.create_or_update_policy, name, rules, pretty_print=False)

    def auth_methods(self) -> dict[str, Any]:
        return self._listing("list auth methods", self._client.sys.list_auth_methods)

    def enable_auth(self, method: str) -> None:
        self._call("enable auth", self._client.sys.enable_auth_method, method)
