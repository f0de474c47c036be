"""An agency's own signing key pair, made on its own machine: the private key never leaves it,
and the admin registers only the public key (`smartcity-admin signing-key register AGENCY
--public-key FILE`). `smartcity-kit keygen` (smartcity_th.kit.cli) calls `generate`.

Files: the private key as PKCS#8 PEM (mode 0600; encrypted when a passphrase is given, which
`ClaimSigner.from_pem(..., password=...)` takes), the public key as SubjectPublicKeyInfo PEM.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_public_key,
)

from smartcity_th.contracts.signing import PUBLIC_KEY_BYTES, key_id_for, raw_public_key


class BadPublicKey(ValueError):
    """A file that is not an Ed25519 public key."""


@dataclass(frozen=True)
class KeyPair:
    key_id: str
    private_key: Path
    public_key: Path


def public_pem(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def generate(agency_id: str, out: Path, passphrase: bytes | None = None) -> KeyPair:
    """A new Ed25519 key pair for `agency_id`, written to `out` as `<key id>.pem` (private,
    0600) and `<key id>.pub.pem` (public; the file to hand to the admin). Never overwrites."""
    private_key = Ed25519PrivateKey.generate()
    key_id = key_id_for(agency_id, raw_public_key(private_key))
    out.mkdir(parents=True, exist_ok=True)
    stem = key_id.replace(":", "_")
    encryption = BestAvailableEncryption(passphrase) if passphrase else NoEncryption()
    private_path = out / f"{stem}.pem"
    public_path = out / f"{stem}.pub.pem"
    private_pem = private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, encryption)
    _write(private_path, private_pem, 0o600)
    _write(public_path, public_pem(private_key), 0o644)
    return KeyPair(key_id, private_path, public_path)


def read_public_key(data: bytes) -> bytes:
    """The 32 raw bytes of an Ed25519 public key given as SubjectPublicKeyInfo PEM (what
    `generate` writes, or `openssl pkey -pubout`) or as the raw key in base64 (the registry's
    own form); `BadPublicKey` otherwise. A private key is refused, never read."""
    text = data.strip()
    if b"PRIVATE KEY" in text:
        raise BadPublicKey("this is a private key: send only the public key (the .pub.pem file)")
    if text.startswith(b"-----BEGIN"):
        try:
            key = load_pem_public_key(text)
        except ValueError as exc:
            raise BadPublicKey(f"not a PEM public key: {exc}") from None
        if not isinstance(key, Ed25519PublicKey):
            raise BadPublicKey(f"not an Ed25519 public key ({type(key).__name__})")
        return key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadPublicKey("neither a PEM public key nor a base64 Ed25519 key") from None
    if len(raw) != PUBLIC_KEY_BYTES:
        raise BadPublicKey(f"an Ed25519 public key has {PUBLIC_KEY_BYTES} bytes, not {len(raw)}")
    return raw
