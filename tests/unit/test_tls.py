"""The local CA (``flightpipe.tls``): a server certificate PostgreSQL and verifying clients accept.

What PostgreSQL requires of the key ("Secure TCP/IP Connections with SSL": the key file must not
be readable by group or others when owned by the server's user) and what verify-full clients
check (the server's name among the certificate's subject alternative names, RFC 6125) is what
the assertions name.
"""

from __future__ import annotations

import stat

import pytest
from cryptography import x509

from flightpipe.tls import server_tls

pytestmark = pytest.mark.unit


def names(path) -> set[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(n.value) for n in san}


def test_the_server_certificate_covers_the_names_and_is_issued_by_the_ca(tmp_path):
    files = server_tls(tmp_path, ["postgres", "127.0.0.1"])
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    cert.verify_directly_issued_by(ca)
    assert names(files.cert) == {"postgres", "127.0.0.1"}
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    for key in (files.key, tmp_path / "ca.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_the_ca_is_kept_and_the_certificate_issued_again_for_other_names(tmp_path):
    first = server_tls(tmp_path, ["127.0.0.1"])
    ca_before, cert_before = first.ca_cert.read_bytes(), first.cert.read_bytes()
    assert server_tls(tmp_path, ["127.0.0.1"]).cert.read_bytes() == cert_before
    again = server_tls(tmp_path, ["127.0.0.1", "localhost"])
    assert again.ca_cert.read_bytes() == ca_before
    assert names(again.cert) == {"127.0.0.1", "localhost"}
