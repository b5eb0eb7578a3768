"""Why a TLS handshake failed, in the operator's words: one table for every client (the Vault
API client, the status transport, the drill's writers). Standard library only, so ``iklim
status`` can use it on its hot path.

OpenSSL's and Python's reasons (https://docs.python.org/3/library/ssl.html#exceptions) are
matched in order; a host-name mismatch is reported inside ``CERTIFICATE_VERIFY_FAILED`` by
current Pythons, so it comes first. No certificate content is ever part of a message.
"""

from __future__ import annotations

ADDRESS_NOT_NAMED = "the member's certificate does not name the address dialled"

#: (text found in the error, words for the operator), first match wins.
TLS_REASONS: tuple[tuple[str, str], ...] = (
    ("mismatch, certificate is not valid for", ADDRESS_NOT_NAMED),
    ("doesn't match", ADDRESS_NOT_NAMED),
    ("CERTIFICATE_VERIFY_FAILED", "the member's certificate is not signed by the CA file"),
    ("WRONG_VERSION_NUMBER", "the member does not speak TLS"),
    ("TLSV1_ALERT_UNKNOWN_CA", "the member refused this client's certificate"),
    ("NO_CERTIFICATE_OR_CRL_FOUND", "the CA file holds no certificate"),
)

#: The reasons that fail the handshake itself: no request byte was sent.
HANDSHAKE_FAILURES = ("CERTIFICATE_VERIFY_FAILED", "WRONG_VERSION_NUMBER", "TLSV1_ALERT", "handshake")


def tls_reason(exc: BaseException) -> str:
    """One line saying why a TLS handshake failed, from :data:`TLS_REASONS`; ``handshake
    refused`` when none matches."""
    text = repr(exc) + " " + str(getattr(exc, "verify_message", ""))
    return next((words for key, words in TLS_REASONS if key in text), "handshake refused")
