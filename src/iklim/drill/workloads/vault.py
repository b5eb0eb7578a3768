"""Vault / OpenBao: one KV v2 write per value with hvac, to a member's Vault API, as the
applications reach Vault (each member's API address; a standby passes the write on to the active).

Client path (decided here, after the OpenBao HA documentation, openbao.org/docs/concepts/ha and
docs/internals/high-availability): writer ``i`` starts on member ``i mod n`` (so standbys are
exercised too). A standby *forwards* the request to the active node over the cluster port
(request forwarding); when it cannot, it answers ``307`` to the active's ``api_addr`` and hvac
follows it (hvac's default ``allow_redirects=True``; requests keeps the method, the body and the
``X-Vault-Token`` header on a 307). On a refused connection or a timeout the client moves to the
next member, as an application with the list of members does; so it does on a member that is
sealed or knows no active node (a member restarted by a rolling update comes back sealed and stays
so until it is unsealed: a client that kept asking it saw an outage of ~11 s in a deploy's Vault
roll, against ~3 s of hand-over).

Each value ``v`` is the secret ``<mount>/data/iklim-drill/<run>/<v>`` holding ``{"value": v}``;
the final read lists ``<mount>/metadata/iklim-drill/<run>/`` on the active node and reads every
secret back (its ``value``), so a value is present only if its secret is.

Outcomes: a connection refused (or a connect timeout) by the member the client asked, before
any redirect, was never sent: ``fail``. A member that answers it is sealed (``503 ... sealed``)
or knows no active node to forward to (``500 ... active cluster node not found``) did nothing:
``fail``; so does any 4xx (Vault refuses before it writes). A read timeout, a connection lost after
sending, any other 5xx, or any failure *after* a redirect (the standby may have forwarded the write
before the active died): ``info``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import hvac
import requests
from hvac import exceptions as hvac_errors

from iklim.drill.history import Indeterminate, Refused
from iklim.drill.workloads.base import Client, Workload
from iklim.model.tlswords import HANDSHAKE_FAILURES

#: Where the drill's secrets live under the KV v2 mount (one folder per run).
FOLDER = "iklim-drill"
#: Words of a Vault error that did nothing: a sealed member, a standby with no active to forward to.
NOT_APPLIED = ("vault is sealed", "active cluster node not found")


def _never_connected(exc: requests.RequestException) -> bool:
    """The request never reached a server: a refused connection, a name that does not resolve, a
    connect timeout (urllib3 wraps these in ``NewConnectionError`` / ``ConnectTimeoutError``), or a
    TLS handshake that failed (the request is sent only after the handshake verified the member)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    text = repr(exc)
    if isinstance(exc, requests.exceptions.SSLError):
        return any(word in text for word in HANDSHAKE_FAILURES)
    return isinstance(exc, requests.ConnectionError) and ("NewConnectionError" in text or "ConnectTimeout" in text)


class VaultClient(Client):
    """One writer: an hvac client on one member at a time (``urls``: each member's API URL).

    Its requests session carries a response hook that notes, per write, whether any answer was a
    redirect and the last status code (hvac's exceptions name the URL asked, not the one answered).
    """

    def __init__(
        self,
        urls: Sequence[str],
        start: int,
        token: str,
        mount: str,
        folder: str,
        timeout: float,
        verify: str | bool = True,
    ) -> None:
        self.urls, self.index, self.token, self.verify = list(urls), start % len(urls), token, verify
        self.mount, self.folder, self.timeout = mount, folder, timeout
        self.redirected, self.status = False, 0
        self.client = self._connect()

    def _seen(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.status = response.status_code
        self.redirected = self.redirected or response.is_redirect

    def _connect(self) -> hvac.Client:
        session = requests.Session()
        session.verify = self.verify  # hvac takes a given session's verify over its own argument
        session.hooks["response"].append(self._seen)
        return hvac.Client(
            url=self.urls[self.index], token=self.token, timeout=self.timeout, session=session, verify=self.verify
        )

    def _rotate(self) -> None:
        self.client.adapter.close()
        self.index = (self.index + 1) % len(self.urls)
        self.client = self._connect()

    def connect(self) -> None:
        """Open the TLS connection to this writer's member (one ``sys/health`` read) ahead of the
        measured writes; any failure is left for the first write."""
        with contextlib.suppress(Exception):
            self.client.sys.read_health_status(method="GET")

    def write(self, value: str) -> None:
        asked = self.urls[self.index]
        self.redirected, self.status = False, 0
        try:
            self.client.secrets.kv.v2.create_or_update_secret(
                f"{self.folder}/{value}", secret={"value": value}, mount_point=self.mount
            )
        except requests.RequestException as exc:
            self._rotate()
            if _never_connected(exc) and not self.redirected:
                raise Refused(f"{asked}: {type(exc).__name__}") from None
            where = "after a redirect" if self.redirected else asked
            raise Indeterminate(f"{where}: {type(exc).__name__}") from None
        except hvac_errors.VaultError as exc:
            words = "; ".join(str(e) for e in (exc.errors or [])) or type(exc).__name__
            status = self.status
            if not self.redirected and any(w in words.lower() for w in NOT_APPLIED):
                self._rotate()  # a sealed member stays sealed until unsealed: the next member may serve
                raise Refused(f"{asked}: HTTP {status}: {words}") from None
            if not self.redirected and 400 <= status < 500:
                raise Refused(f"{asked}: HTTP {status}: {words}") from None
            self._rotate()
            where = "after a redirect" if self.redirected else asked
            raise Indeterminate(f"{where}: HTTP {status}: {words}") from None

    def close(self) -> None:
        self.client.adapter.close()


class VaultWorkload(Workload):
    """``urls``: every member's API URL (``http://127.0.3.1:8200``); ``token``: a token that may
    write and list ``<mount>/*/iklim-drill/*``; ``mount``: a KV v2 mount; ``timeout`` seconds;
    ``verify``: requests' (the CA file of ``https`` members)."""

    name = "vault"

    def __init__(
        self, urls: Sequence[str], token: str, mount: str, run_id: str, timeout: float = 1.0, verify: str | bool = True
    ) -> None:
        if not urls:
            raise ValueError("no Vault members")
        self.urls, self.token, self.mount, self.timeout, self.verify = list(urls), token, mount, timeout, verify
        self.folder = f"{FOLDER}/{run_id}"
        self._started = 0
        self._lock = threading.Lock()

    def _hvac(self, url: str, timeout: float = 5.0) -> hvac.Client:
        return hvac.Client(url=url, token=self.token, timeout=timeout, verify=self.verify)

    def active_url(self) -> str:
        """The API URL of the member that says it is active (``GET /v1/sys/leader``: ``is_self``, or
        ``ha_enabled: false``: a single server); raises OSError naming the last failure when none does."""
        last = "no member answered"
        for url in self.urls:
            try:
                leader: dict[str, Any] = self._hvac(url, 2.0).sys.read_leader_status()
            except (requests.RequestException, hvac_errors.VaultError) as exc:
                last = f"{url}: {type(exc).__name__}"
                continue
            if leader.get("is_self") or leader.get("ha_enabled") is False:  # not HA: the only node serves
                return url
            last = f"{url}: a standby"
        raise OSError(f"no active Vault member ({last})")

    def setup(self) -> None:
        """The mount must be KV v2 (its ``config`` answers) on the active node; OSError otherwise."""
        try:
            self._hvac(self.active_url()).secrets.kv.v2.read_configuration(mount_point=self.mount)
        except (requests.RequestException, hvac_errors.VaultError) as exc:
            raise OSError(f"KV v2 mount {self.mount!r}: {type(exc).__name__}: {exc}") from None

    def client(self) -> Client:
        with self._lock:
            start, self._started = self._started, self._started + 1
        return VaultClient(self.urls, start, self.token, self.mount, self.folder, self.timeout, self.verify)

    def final_read(self) -> list[str]:
        """Every value of this run, read from the active node (8 readers in parallel)."""
        url = self.active_url()
        try:
            listed = self._hvac(url).secrets.kv.v2.list_secrets(self.folder, mount_point=self.mount)
        except hvac_errors.InvalidPath:
            return []  # nothing was ever written
        keys = [str(k) for k in listed["data"]["keys"]]
        local = threading.local()

        def read(key: str) -> str:
            if not hasattr(local, "client"):
                local.client = self._hvac(url)
            secret = local.client.secrets.kv.v2.read_secret_version(
                f"{self.folder}/{key}", mount_point=self.mount, raise_on_deleted_version=True
            )
            return str(secret["data"]["data"]["value"])

        with ThreadPoolExecutor(max_workers=8) as pool:
            return list(pool.map(read, keys))
