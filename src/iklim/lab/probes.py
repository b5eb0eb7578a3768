"""Tiny blocking probes the lab uses to wait for readiness (status has its own transport)."""

from __future__ import annotations

import base64
import json
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_json(url: str, auth: tuple[str, str] | None = None, timeout: float = 2.0, ca_file: str | None = None) -> Any:
    """GET ``url`` and decode JSON; an ``https`` URL is verified with ``ca_file`` (else the system's
    CAs). Raises OSError (including HTTPError, and ssl's errors) on failure."""
    request = urllib.request.Request(url)
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    context = ssl.create_default_context(cafile=ca_file) if ca_file and url.startswith("https://") else None
    with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
        return json.loads(response.read() or b"null")


def wait_for(check: Callable[[], T | None], deadline: float, what: str, interval: float = 0.25) -> T:
    """Call ``check`` until it returns a value (not None) or the deadline passes."""
    last_error = ""
    while time.monotonic() < deadline:
        try:
            value = check()
            if value is not None:
                return value
        except (OSError, ValueError, KeyError) as exc:
            last_error = f" (last error: {exc})"
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what}{last_error}")
