"""Who signs this deployment's videos: an ES256 certificate chain and key, and the keys derived from it.

The operator's certificate chain and key (LINLY_C2PA_CERT, LINLY_C2PA_KEY: PEM files) are used when given.
Otherwise a per-deployment chain is generated with `cryptography` (a root that is this deployment's trust
anchor, and a signing certificate under it) and kept in LINLY_PROVENANCE_DIR (0700, files 0600, never the
ephemeral root), or only in memory when that is "memory" (the hardened run: a read-only file system).

Guarantees: the private key is never logged or sent anywhere; the render-id key (for the audit log's keyed
hashes of render ids) is derived from the private key, so it is stable exactly as long as the signing key is;
the deployment id is a fingerprint of the signing certificate's public key.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from linly_demo.ephemeral import within
from linly_demo.errors import ConfigError
from linly_demo.private_files import write_private

CHAIN_FILE, KEY_FILE, ANCHOR_FILE = "c2pa-chain.pem", "c2pa-signer.key", "c2pa-trust-anchor.pem"
ORGANISATION = "linly-demo deployment"
SIGNER_DAYS, ROOT_DAYS = 825, 3650
MEMORY = "memory"


@dataclass(frozen=True)
class SigningIdentity:
    """PEM chain (signing certificate first), PEM PKCS#8 key, and the trust anchor that validates the chain."""

    chain_pem: bytes
    key_pem: bytes
    anchor_pem: bytes
    source: str  # "operator", "generated" or "memory"

    @property
    def signer_certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificates(self.chain_pem)[0]

    @property
    def deployment_id(self) -> str:
        """16 hex digits: SHA-256 of the signing certificate's public key (how `verify` tells "this deployment")."""
        return public_key_fingerprint(self.signer_certificate)

    def render_id_key(self) -> bytes:
        """The key for keyed hashes of render ids (derived from the private key: stable as long as it is)."""
        return hmac.new(self.key_pem, b"linly-demo/render-id", hashlib.sha256).digest()

    def __repr__(self) -> str:
        return f"SigningIdentity(source={self.source!r}, deployment_id={self.deployment_id!r}, key=<hidden>)"


def public_key_fingerprint(certificate: x509.Certificate) -> str:
    spki = certificate.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()[:16]


def load_identity(cert: Path | None, key: Path | None, provenance_dir: str, ephemeral_root: Path) -> SigningIdentity:
    """The operator's identity when given, else the deployment's stored one (created on first start), else one in
    memory; raises ConfigError for unreadable or mismatched files, or a directory inside the ephemeral root."""
    if cert is not None and key is not None:
        try:
            chain_pem, key_pem = cert.read_bytes(), key.read_bytes()
            certificates = x509.load_pem_x509_certificates(chain_pem)
            private = serialization.load_pem_private_key(key_pem, password=None)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"LINLY_C2PA_CERT / LINLY_C2PA_KEY cannot be read as PEM: {exc}.") from None
        if not isinstance(private, ec.EllipticCurvePrivateKey) or private.curve.name != "secp256r1":
            raise ConfigError("LINLY_C2PA_KEY must be an ES256 (P-256) private key.")
        if certificates[0].public_key().public_numbers() != private.public_key().public_numbers():  # type: ignore[union-attr]
            raise ConfigError("LINLY_C2PA_KEY does not belong to the first certificate in LINLY_C2PA_CERT.")
        pkcs8 = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
        anchor = certificates[-1].public_bytes(serialization.Encoding.PEM)
        return SigningIdentity(chain_pem, pkcs8, anchor, "operator")
    if provenance_dir == MEMORY:
        return generate_identity("memory")
    folder = Path(os.path.abspath(provenance_dir))
    if within(folder, ephemeral_root):
        raise ConfigError("LINLY_PROVENANCE_DIR must not be inside the ephemeral root: the signing key must "
                          "outlive it.")
    try:
        if (folder / KEY_FILE).exists():
            return SigningIdentity((folder / CHAIN_FILE).read_bytes(), (folder / KEY_FILE).read_bytes(),
                                   (folder / ANCHOR_FILE).read_bytes(), "generated")
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        identity = generate_identity("generated")
        for name, data in ((ANCHOR_FILE, identity.anchor_pem), (CHAIN_FILE, identity.chain_pem),
                           (KEY_FILE, identity.key_pem)):  # the key last: its presence means "complete"
            write_private(folder / name, data)
        return identity
    except OSError as exc:
        raise ConfigError(f"LINLY_PROVENANCE_DIR cannot hold the signing key ({exc.strerror}); set it to a "
                          "writable folder, to 'memory', or give LINLY_C2PA_CERT and LINLY_C2PA_KEY.") from None


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION)])


def generate_identity(source: str) -> SigningIdentity:
    """A fresh self-signed root (the trust anchor) and an ES256 signing certificate under it, as C2PA wants
    them: the signer not a CA, digitalSignature key usage, an extended key usage, key identifiers."""
    now = datetime.datetime.now(datetime.UTC)
    root_key, signer_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    root = (x509.CertificateBuilder().subject_name(_name("linly-demo trust anchor"))
            .issuer_name(_name("linly-demo trust anchor")).public_key(root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=ROOT_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256()))
    signer = (x509.CertificateBuilder().subject_name(_name("linly-demo video signer")).issuer_name(root.subject)
              .public_key(signer_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(minutes=5))
              .not_valid_after(now + datetime.timedelta(days=SIGNER_DAYS))
              .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
              .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False),
                             critical=True)
              .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
              .add_extension(x509.SubjectKeyIdentifier.from_public_key(signer_key.public_key()), critical=False)
              .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
                             critical=False)
              .sign(root_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    key_pem = signer_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return SigningIdentity(signer.public_bytes(pem) + root.public_bytes(pem), key_pem, root.public_bytes(pem), source)
