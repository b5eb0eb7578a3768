"""Strict types for every free-form string of the model.

Model strings land in shell runbooks, Terraform (HCL), nginx sites, Docker stacks (YAML with
compose interpolation), JavaScript and service configs. Each field gets the narrowest pattern its
meaning allows, so a value that could change the meaning of any of those files is refused at load
(with its line and column) before anything is rendered; the renderers still escape every value
for the language it lands in. All patterns are anchored and matched by pydantic's Rust engine, in
which ``$`` matches only at the very end (a trailing newline never passes).
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from pydantic import AfterValidator, Field

_DNS_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME = rf"{_DNS_LABEL}(?:\.{_DNS_LABEL})*"
_PATH = r"(?:/[A-Za-z0-9._-]+)+"
_IMAGE_DOMAIN = (
    r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]{1,5})?"
)
_IMAGE_PATH = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_PATTERN = (
    rf"^(?:{_IMAGE_DOMAIN}/)?{_IMAGE_PATH}(?:/{_IMAGE_PATH})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)


def _no_dot_segments(value: str) -> str:
    """Refuse ``.`` and ``..`` path components: a path means what it says, never a parent."""
    if any(part in {".", ".."} for part in value.split("/")):
        raise ValueError(f"{value!r}: '.' and '..' are not allowed in a path")
    return value


def _base64(value: str) -> str:
    try:
        base64.b64decode(value, validate=True)
    except binascii.Error:
        raise ValueError("not valid base64 (give the base64 of the binary public key)") from None
    return value


Identifier = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=63)]
"""A name: stack, network, overlay, port, scope, replica set, cluster, policy."""

NodeName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=63)]
"""A Swarm node's hostname (one DNS label)."""

DnsLabel = Annotated[str, Field(pattern=rf"^{_DNS_LABEL}$", max_length=63)]
"""One lower-case DNS label: an overlay alias."""

LowerName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=63)]
"""A Vault mount path or auth method name."""

LabelKey = Annotated[str, Field(pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$", max_length=63)]
"""A Swarm node label key (``type``, ``com.example.zone``)."""

LabelValue = Annotated[str, Field(pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$", max_length=63)]
"""A Swarm node label value (``db``, ``service``, ``fsn1``)."""

Hostname = Annotated[str, Field(pattern=rf"^{_HOSTNAME}$", max_length=253)]
"""A lower-case DNS name: a domain or a server name (``rabbitmq.iklim.co``)."""

Email = Annotated[
    str, Field(pattern=rf"^[A-Za-z0-9][A-Za-z0-9._+-]{{0,63}}@{_HOSTNAME}\.{_DNS_LABEL}$", max_length=254)
]
"""A plain e-mail address (``ops@iklim.co``): no quotes, comments or display names."""

Zone = Annotated[str, Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=32)]
"""A Hetzner network zone (``eu-central``)."""

EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=63)]
"""An environment variable name (``GRAFANA_DATA_DIR``)."""

AbsPath = Annotated[str, Field(pattern=rf"^{_PATH}$", max_length=1024), AfterValidator(_no_dot_segments)]
"""An absolute path of letters, digits and ``._-`` components, without ``.`` or ``..``."""

AuditPath = Annotated[str, Field(pattern=rf"^(?:stdout|{_PATH})$", max_length=1024), AfterValidator(_no_dot_segments)]
"""Vault's file audit device target: ``stdout`` or an absolute path."""

EtcdPath = Annotated[str, Field(pattern=r"^/[A-Za-z0-9_./-]*$", max_length=255)]
"""An etcd key prefix (``/apisix``)."""

PgpKey = Annotated[str, Field(pattern=r"^[A-Za-z0-9+/]+={0,2}$", max_length=65536), AfterValidator(_base64)]
"""A base64-encoded binary PGP public key, as Vault's ``pgp_keys`` take it."""

PolicyText = Annotated[str, Field(pattern=r"^[\t\n\x20-\x7E]+$", max_length=65536)]
"""A Vault policy (HCL, sent through the API, never rendered): printable ASCII, tabs, newlines."""

ImageRef = Annotated[str, Field(pattern=IMAGE_PATTERN, max_length=255)]
"""A Docker image reference (``[registry/]path[:tag][@sha256:digest]``)."""
