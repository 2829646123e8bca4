"""The portal feeds' signature (CONTRACT.md): `X-Portal-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed
with FEED_SECRET>`, bound to the exact bytes it authorises."""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Portal-Signature"


def portal_signature(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(body: bytes, secret: str, given: str) -> bool:
    """Compared in constant time."""
    return hmac.compare_digest(portal_signature(body, secret).encode(), given.strip().encode())
