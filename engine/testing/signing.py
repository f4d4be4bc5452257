"""Sign callbacks exactly as their senders do: for tests, the demo and dry runs.

- SendGrid's signed Event Webhook: ECDSA P-256 with SHA-256 over the
  timestamp header followed by the raw body, base64 DER signature.
- Twilio: HMAC-SHA1 of the full URL plus the sorted POST parameters, by the
  official `RequestValidator`.
- Our own business callbacks (shop, mail house, call centre): HMAC-SHA256
  of the raw body, hex, in ``X-Signature``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from twilio.request_validator import RequestValidator

SENDGRID_SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
SENDGRID_TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"


@dataclass(frozen=True)
class SendGridSigner:
    """A key pair like the one SendGrid keeps; `public_key` goes into the config."""

    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    @property
    def public_key(self) -> str:
        """The verification key as SendGrid shows it: base64 DER."""
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode()

    def headers(self, body: str, timestamp: str) -> dict[str, str]:
        signature = self.key.sign((timestamp + body).encode(), ec.ECDSA(hashes.SHA256()))
        return {
            SENDGRID_SIGNATURE: base64.b64encode(signature).decode(),
            SENDGRID_TIMESTAMP: timestamp,
        }


def twilio_headers(auth_token: str, url: str, params: Mapping[str, str]) -> dict[str, str]:
    """The ``X-Twilio-Signature`` Twilio sends for a POST of `params` to `url`."""
    signature = RequestValidator(auth_token).compute_signature(url, dict(params))
    return {"X-Twilio-Signature": signature}


def hmac_headers(secret: str, body: bytes) -> dict[str, str]:
    """``X-Signature``: hex HMAC-SHA256 of the raw body (shop, mail house, call centre)."""
    return {"X-Signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}
