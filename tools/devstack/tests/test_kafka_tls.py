"""The dev broker's TLS material: a CA that signs a loopback server certificate and a client
certificate, written once and kept private to the user."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from cryptography import x509

from byosms_devstack.kafka_tls import SASL_USER, ensure_tls_files

pytestmark = pytest.mark.unit


def test_files_chain_to_the_ca_and_are_reused(tmp_path: Path) -> None:
    files = ensure_tls_files(tmp_path / "tls")
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    chain = x509.load_pem_x509_certificates(files.broker_keystore.read_bytes())
    assert chain[0].issuer == ca.subject
    names = chain[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert b"PRIVATE KEY" in files.broker_keystore.read_bytes()
    client = x509.load_pem_x509_certificate(files.client_cert.read_bytes())
    assert client.issuer == ca.subject
    assert SASL_USER in client.subject.rfc4514_string()
    # Python's TLS stack accepts the CA and the client pair as the services load them.
    context = ssl.create_default_context(cafile=str(files.ca_cert))
    context.load_cert_chain(str(files.client_cert), str(files.client_key))
    assert all(p.stat().st_mode & 0o077 == 0 for p in files.directory.iterdir())
    password = files.sasl_password()
    assert len(password) >= 24
    again = ensure_tls_files(tmp_path / "tls")
    assert again.sasl_password() == password
    assert again.ca_cert.read_bytes() == files.ca_cert.read_bytes()
