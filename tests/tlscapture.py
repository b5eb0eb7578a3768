"""The closing assertions of a packet capture taken to prove that secrets cross the wire only
inside TLS (issue 17): the capture really recorded traffic, it can see plaintext (a control
request's marker is in it, so a clean result means something), it holds TLS records, and none of
the secrets appears in its bytes."""

from __future__ import annotations

from collections.abc import Iterable


def assert_no_secret_in_clear(
    data: bytes, tcpdump_stderr: str, marker: str, secrets: Iterable[str], least: int
) -> None:
    """Fail unless ``data`` (a pcap file's bytes, at least ``least`` bytes) holds the plaintext
    control ``marker``, TLS handshake records, and none of ``secrets`` (named by a 6-character
    prefix only, so a failure prints no secret)."""
    assert b"packets captured" in tcpdump_stderr and len(data) > least, tcpdump_stderr
    assert marker.encode() in data, "the capture does not see plaintext: it would prove nothing"
    assert b"\x16\x03\x01" in data or b"\x16\x03\x03" in data  # TLS handshake records
    leaked = [s[:6] + "..." for s in secrets if s.encode() in data]
    assert not leaked, f"secrets in clear in the capture: {leaked}"
