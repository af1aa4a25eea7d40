"""The local CA (``flightpipe.devenv.tls``): a server certificate PostgreSQL and verifying
clients accept.

What PostgreSQL requires of the key ("Secure TCP/IP Connections with SSL": the key file must not
be readable by group or others when owned by the server's user) and what verify-full clients
check (the server's name among the certificate's subject alternative names, RFC 6125) is what
the assertions name.
"""

from __future__ import annotations

import socket
import ssl
import stat
import threading

from cryptography import x509

from flightpipe.devenv.tls import key_and_certificate, server_tls


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


def test_a_second_certificate_of_the_same_ca_serves_tls_from_one_pem_file(tmp_path):
    """LocalStack's gateway reads its key and certificate from one PEM file
    (``CUSTOM_SSL_CERT_PATH``, ``localstack/utils/crypto.py``: the key, then the certificate): a
    client trusting the stack's CA completes a handshake for a name the certificate covers, and
    the warehouse's certificate beside it is left as it was."""
    warehouse = server_tls(tmp_path, ["postgres"])
    before = warehouse.cert.read_bytes()
    gateway = server_tls(tmp_path, ["glue.us-east-1.amazonaws.com", "localstack"], "gateway")
    pem = key_and_certificate(gateway, tmp_path / "gateway.pem")
    assert warehouse.cert.read_bytes() == before and gateway.ca_cert == warehouse.ca_cert
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(pem)
    client = ssl.create_default_context(cafile=str(gateway.ca_cert))
    assert handshake(server, client, "glue.us-east-1.amazonaws.com") == "ok"
    assert "Hostname mismatch" in handshake(server, client, "glue.us-west-2.amazonaws.com")


def handshake(server: ssl.SSLContext, client: ssl.SSLContext, name: str) -> str:
    """Complete a TLS handshake over a socket pair; "ok" or the client's verification error."""
    left, right = socket.socketpair()
    result: list[BaseException] = []

    def serve() -> None:
        try:
            with server.wrap_socket(right, server_side=True):
                pass
        except (ssl.SSLError, OSError) as error:
            result.append(error)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with client.wrap_socket(left, server_hostname=name):
            return "ok"
    except ssl.SSLCertVerificationError as error:
        return str(error)
    finally:
        left.close()
        thread.join(10)
