"""A service's own signing key: an Ed25519 private key in a PEM file, whose public half is
registered in the agency registry under the service's agency id (`svc-<service>`), as an
agency's key is (`smartcity-admin signing-key ensure svc-<service> --out DIR` makes and
registers one; the local stack keeps them in .local/service-signing-keys/).

The approvals service signs the certificates it awards with it (`contracts.certificate_seal`);
every service is meant to sign its facts with the same key (design.md, "Trust")."""

from __future__ import annotations

from pathlib import Path

import structlog

from smartcity_th.contracts.access import service_principal
from smartcity_th.contracts.registry import Registry
from smartcity_th.kit import ClaimSigner
from smartcity_th.services.common.cli import StartupRefused

log = structlog.get_logger(__name__)


class ServiceKeyUnreadable(StartupRefused):
    """The configured signing key file is missing or is not an Ed25519 private key."""


def load_service_key(path: Path | None, service: str) -> ClaimSigner | None:
    """The service's signing key from `path` (None when no file is configured)."""
    if path is None:
        return None
    try:
        return ClaimSigner.from_pem(service_principal(service), path)
    except (OSError, ValueError, TypeError) as exc:
        raise ServiceKeyUnreadable(
            f"the signing key file {path} cannot be used: {exc} (make one with "
            f"`smartcity-admin signing-key ensure {service_principal(service)} --out DIR`)"
        ) from None


def registered_state(signer: ClaimSigner | None, registry: Registry) -> str:
    """How the registry knows the key: 'none' (no key), 'unregistered', 'revoked', 'current'."""
    if signer is None:
        return "none"
    entry = registry.signing_keys.get(signer.key_id)
    if entry is None or entry.agency_id != signer.agency_id:
        return "unregistered"
    return "revoked" if entry.revoked_at is not None else "current"
