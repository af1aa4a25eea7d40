"""A local certificate authority, so that the local warehouse speaks TLS as Redshift does.

The deployed Glue connection sets ``JDBC_ENFORCE_SSL`` ("SSL with hostname matching", AWS Glue's
Connection API), and the jobs connect with ``sslmode=verify-full``. Locally, the PostgreSQL that
stands in for Redshift presents a server certificate issued by a CA made here, and the stack's
connection names that CA's certificate in S3 (``CUSTOM_JDBC_CERT``), so the same setting is
checked by the same drivers. Development only: the CA's key sits beside its certificate.

Why our own: docs/decisions/own-code.md.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_NAME = "flightpipe local warehouse CA (development only)"
CA_DAYS = 3650
SERVER_DAYS = 825
# A certificate closer than this to its end is issued again.
RENEW_BEFORE = datetime.timedelta(days=7)


@dataclass(frozen=True)
class ServerTls:
    """The files a TLS server and its clients need."""

    ca_cert: Path
    cert: Path
    key: Path


def server_tls(directory: Path, hostnames: Sequence[str], name: str = "server") -> ServerTls:
    """The CA in ``directory`` (made once) and a server certificate it issued for ``hostnames``
    (DNS names or IP addresses), ``<name>.crt`` and ``<name>.key`` there, issued again when the
    names differ or its end is near."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key_path, ca_cert_path = directory / "ca.key", directory / "ca.crt"
    if not (_valid(ca_cert_path) and ca_key_path.is_file()):
        _write_ca(ca_key_path, ca_cert_path)
    files = ServerTls(ca_cert_path, directory / f"{name}.crt", directory / f"{name}.key")
    ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
    if not (_valid(files.cert) and _covers(files.cert, hostnames, ca_cert)):
        ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
        if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{ca_key_path} is not the EC key this module writes")
        _write_server(files, hostnames, ca_key, ca_cert)
    return files


def key_and_certificate(files: ServerTls, target: Path) -> Path:
    """``target``: the server's key and certificate in one PEM file, readable by its owner
    only, as LocalStack reads its gateway's (``CUSTOM_SSL_CERT_PATH``)."""
    data = files.key.read_bytes() + files.cert.read_bytes()
    if not (target.is_file() and target.read_bytes() == data):
        _write_private(target, data)
    return target


def _write_ca(key_path: Path, cert_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_key(key_path, key)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _write_server(
    files: ServerTls,
    hostnames: Sequence[str],
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=SERVER_DAYS))
        .add_extension(x509.SubjectAlternativeName(_names(hostnames)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(files.key, key)
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _names(hostnames: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hostnames:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _covers(cert_path: Path, hostnames: Sequence[str], ca_cert: x509.Certificate) -> bool:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    if cert.issuer != ca_cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (InvalidSignature, ValueError, TypeError):
        return False
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(names) == set(_names(hostnames))


def _valid(cert_path: Path) -> bool:
    if not cert_path.is_file():
        return False
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return cert.not_valid_after_utc - RENEW_BEFORE > _now()


def _key_usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=not cert_sign,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """The key in PEM, readable by its owner only (PostgreSQL refuses a key others may read)."""
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_private(path, data)


def _write_private(path: Path, data: bytes) -> None:
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
