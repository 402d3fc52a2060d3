"""Self-signed TLS material and SASL credentials of the dev broker's optional SASL_SSL listener.

A throwaway CA signs the broker's certificate (for 127.0.0.1 and localhost) and one client
certificate (mutual TLS); everything is PEM, which Kafka reads as keystore and truststore type
``PEM``. Made once per state directory and reused; the SASL password is random per state directory.
Development only: the CA key sits beside the certificates.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SASL_USER = "byosms"
VALID_DAYS = 825


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """Where the listener's material lives (all PEM)."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca-key.pem"

    @property
    def broker_keystore(self) -> Path:
        """The broker's private key (PKCS#8) followed by its certificate chain: a Kafka PEM keystore."""
        return self.directory / "broker-keystore.pem"

    @property
    def client_cert(self) -> Path:
        return self.directory / "client.pem"

    @property
    def client_key(self) -> Path:
        return self.directory / "client-key.pem"

    @property
    def sasl_password_file(self) -> Path:
        return self.directory / "sasl-password"

    def complete(self) -> bool:
        files = (self.ca_cert, self.broker_keystore, self.client_cert, self.client_key, self.sasl_password_file)
        return all(f.is_file() for f in files)

    def sasl_password(self) -> str:
        return self.sasl_password_file.read_text(encoding="utf-8").strip()


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "byosms devstack"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _issue(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    *,
    usage: x509.ObjectIdentifier | None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    issuer_name, issuer_key = issuer if issuer is not None else (_name(subject), key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
    )
    if usage is None:  # the CA
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True).add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    else:
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        if usage == ExtendedKeyUsageOID.SERVER_AUTH:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o600)


def ensure_tls_files(directory: Path) -> TlsFiles:
    """The listener's CA, broker keystore, client certificate and SASL password; made when missing."""
    files = TlsFiles(directory)
    if files.complete():
        return files
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = _key()
    ca = _issue("byosms devstack CA", ca_key, None, usage=None)
    broker_key = _key()
    broker = _issue("127.0.0.1", broker_key, (ca.subject, ca_key), usage=ExtendedKeyUsageOID.SERVER_AUTH)
    client_key = _key()
    client = _issue(SASL_USER, client_key, (ca.subject, ca_key), usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    _write(files.ca_key, _pem_key(ca_key))
    _write(files.ca_cert, _pem_cert(ca))
    _write(files.broker_keystore, _pem_key(broker_key) + _pem_cert(broker) + _pem_cert(ca))
    _write(files.client_key, _pem_key(client_key))
    _write(files.client_cert, _pem_cert(client))
    # Last: its presence marks the set as complete.
    _write(files.sasl_password_file, (secrets.token_urlsafe(24) + "\n").encode())
    return files
