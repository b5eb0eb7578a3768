"""Whether a member's certificate must be (re)issued: the decision only, no file written."""

from __future__ import annotations

from datetime import datetime

from cryptography.exceptions import InvalidSignature

from iklim.pki.ca import PkiError, info, load_cert, load_key, matches, names_match, renewal_due
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
