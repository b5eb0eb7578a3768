"""Whether a member's certificate must be (re)issued (:func:`reason_to_issue`, the decision
only), and :func:`ensure_issued`, the one loop step ``iklim pki issue`` and the loopback lab share."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature

from iklim.pki import store
from iklim.pki.ca import Pem, PkiError, info, issue, load_cert, load_key, matches, names_match, renewal_due
from iklim.pki.members import Member


def reason_to_issue(
    member: Member,
    cert: bytes | None,
    key: bytes | None,
    ca_cert: bytes,
    renew_before_days: int,
    now: datetime,
) -> str | None:
    """Why ``member`` needs a new certificate, or None when the one it has is current.

    Reasons, in order: none issued yet; unreadable; not signed by this CA; key and certificate
    do not match (an interrupted renewal); names differ from the model's (a new alias or node
    address); expires within the model's ``tls.renew_before_days``.
    """
    if cert is None or key is None:
        return "not issued yet"
    try:
        parsed, private, ca = load_cert(cert, member.crt_name), load_key(key, member.key_name), load_cert(ca_cert, "CA")
    except PkiError as exc:
        return f"unreadable ({exc})"
    if parsed.issuer != ca.subject:
        return "issued by another CA"
    try:
        parsed.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return "issued by another CA"
    if not matches(parsed, private):
        return "key and certificate do not match"
    details = info(cert, member.crt_name)
    if not names_match(details, member):
        return "names differ from the model"
    if renewal_due(details, renew_before_days, now):
        return f"expires {details.not_after:%Y-%m-%d}, within {renew_before_days} days"
    return None


def existing(folder: Path, name: str) -> bytes | None:
    """The bytes of ``folder/name``, None when there is no such entry; PkiError when it is a link
    or not a regular file (:func:`iklim.pki.store.read`)."""
    path = folder / name
    return store.read(path) if path.exists() or path.is_symlink() else None


def ensure_issued(
    folder: Path,
    member: Member,
    ca: Pem,
    validity_days: int,
    renew_before_days: int,
    now: datetime,
    force: bool = False,
) -> str | None:
    """Issue ``member``'s pair into ``folder`` (key 0600, then certificate, each atomically) unless
    its current one is kept (:func:`reason_to_issue`); returns why it was issued (``forced`` with
    ``force``), None when kept. Raises PkiError naming an unreadable file, OSError on a write."""
    cert, key = existing(folder, member.crt_name), existing(folder, member.key_name)
    why = "forced" if force else reason_to_issue(member, cert, key, ca.cert, renew_before_days, now)
    if why is not None:
        store.save_member(folder, member.crt_name, member.key_name, issue(member, ca, validity_days, now))
    return why
