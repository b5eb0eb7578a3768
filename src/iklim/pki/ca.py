"""X.509 for the environment CA and its members: pure functions from PEM bytes to PEM bytes.

Keys are ECDSA P-256 (PKCS#8 PEM, unencrypted, as the engines read them): accepted by Vault's TCP
listener (``tls_cert_file``/``tls_key_file``,
https://developer.hashicorp.com/vault/docs/configuration/listener/tcp), etcd's transport security
(``--cert-file``/``--key-file``, ``--peer-*``, https://etcd.io/docs/v3.5/op-guide/security/),
PostgreSQL (``ssl_cert_file``/``ssl_key_file``, https://www.postgresql.org/docs/16/ssl-tcp.html)
and Patroni's REST API (``restapi.certfile``/``keyfile``). The CA is a self-signed root with
``basicConstraints CA:TRUE, pathlen:0`` and ``keyCertSign``/``cRLSign``; a member certificate
has ``CA:FALSE``, ``digitalSignature`` (ECDHE-ECDSA needs nothing more), the extended key usages
its role needs and, for a server, subjectAltName DNS and IP entries (RFC 5280 4.2.1.6; clients
verify those, not the CN). A member certificate never outlives its CA: its notAfter is clamped.

Times are timezone-aware UTC ``datetime`` values passed in, so every function is deterministic
apart from the fresh key and serial it draws.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from iklim.pki.members import Member

#: Backdating of notBefore, for members whose clocks run slightly behind the manager's.
CLOCK_SKEW = timedelta(minutes=5)


class PkiError(Exception):
    """A certificate or key that cannot be used (unparsable, not a CA, wrong key): one line."""


@dataclass(frozen=True)
class Pem:
    """A certificate and its private key, PEM-encoded."""

    cert: bytes
    key: bytes


@dataclass(frozen=True)
class CertInfo:
    """What ``iklim pki show`` prints about a certificate (never its key)."""

    subject_cn: str
    issuer_cn: str
    dns: tuple[str, ...]
    ips: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    serial: int


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def create_ca(common_name: str, days: int, now: datetime) -> Pem:
    """A new self-signed CA valid for ``days`` from ``now`` (UTC, aware)."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Pem(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def load_cert(pem: bytes, what: str) -> x509.Certificate:
    """The certificate in ``pem``; PkiError naming ``what`` when it is not one."""
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise PkiError(f"{what}: not a PEM certificate") from None


def load_key(pem: bytes, what: str) -> ec.EllipticCurvePrivateKey:
    """The ECDSA private key in ``pem``; PkiError naming ``what`` otherwise (never the key)."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise PkiError(f"{what}: not an unencrypted PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PkiError(f"{what}: not an ECDSA key")
    return key


def matches(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> bool:
    """Whether ``key`` is the private half of ``cert``'s public key."""
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return cert.public_key().public_bytes(*fmt) == key.public_key().public_bytes(*fmt)


def issue(member: Member, ca: Pem, days: int, now: datetime) -> Pem:
    """A new key and certificate for ``member``, signed by ``ca``, valid ``days`` from ``now``
    but never past the CA's notAfter. PkiError when ``ca`` is not a usable CA pair."""
    ca_cert, ca_key = load_cert(ca.cert, "CA certificate"), load_key(ca.key, "CA key")
    constraints = ca_cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    if not constraints.ca or not matches(ca_cert, ca_key):
        raise PkiError("CA certificate: not a CA, or not the CA key's certificate")
    if ca_cert.not_valid_after_utc <= now:
        raise PkiError(f"CA certificate expired on {ca_cert.not_valid_after_utc:%Y-%m-%d}")
    key = ec.generate_private_key(ec.SECP256R1())
    usages = [ExtendedKeyUsageOID.SERVER_AUTH] if member.server else []
    usages += [ExtendedKeyUsageOID.CLIENT_AUTH] if member.client else []
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(member.common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(min(now + timedelta(days=days), ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if member.dns or member.ips:
        names: list[x509.GeneralName] = [x509.DNSName(d) for d in member.dns]
        names += [x509.IPAddress(ip) for ip in member.ips]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return Pem(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def info(pem: bytes, what: str) -> CertInfo:
    """The names, issuer and validity of the certificate in ``pem`` (PkiError when unparsable)."""
    cert = load_cert(pem, what)

    def cn(name: x509.Name) -> str:
        values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(values[0].value) if values else ""

    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = tuple(sans.get_values_for_type(x509.DNSName))
        ips = tuple(str(ip) for ip in sans.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        dns, ips = (), ()
    return CertInfo(
        cn(cert.subject),
        cn(cert.issuer),
        dns,
        ips,
        cert.not_valid_before_utc,
        cert.not_valid_after_utc,
        cert.serial_number,
    )


def renewal_due(cert: CertInfo, renew_before_days: int, now: datetime) -> bool:
    """Whether ``cert`` expires within ``renew_before_days`` of ``now`` (the model's threshold)."""
    return cert.not_after - now <= timedelta(days=renew_before_days)


def names_match(cert: CertInfo, member: Member) -> bool:
    """Whether ``cert`` carries exactly the names the model now derives for ``member`` (a new
    alias or node address makes an older certificate stale)."""
    wanted_ips = tuple(str(ip) for ip in member.ips)
    return (
        cert.subject_cn == member.common_name
        and sorted(cert.dns) == sorted(member.dns)
        and sorted(cert.ips) == sorted(wanted_ips)
    )
