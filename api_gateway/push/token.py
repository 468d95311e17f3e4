"""The OIDC token Pub/Sub puts on every push: signed by Google, for our audience, by the
service account the subscription was configured with. Anything else is refused (1002).

Google's signing certificates are fetched once and kept for as long as their Cache-Control
allows, not on every push (google.oauth2.id_token.verify_token fetches them every call).
"""

import asyncio
import re
import time
from collections.abc import Mapping
from typing import Any

import httpx
from google.auth import exceptions as auth_exceptions
from google.auth import jwt

from shared.errors import AuthenticationFailed

ISSUERS = frozenset({"accounts.google.com", "https://accounts.google.com"})
DEFAULT_MAX_AGE_S = 3600.0
CLOCK_SKEW_S = 30
_MAX_AGE = re.compile(r"max-age=(\d+)")


class GoogleCerts:
    """Google's (or, in development, the simulator's) token signing certificates, cached."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._certs: dict[str, str] = {}
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def get(self, *, refresh: bool = False) -> dict[str, str]:
        async with self._lock:
            if refresh or time.monotonic() >= self._expires:
                async with httpx.AsyncClient(timeout=10.0) as client:
                    response = await client.get(self.url)
                response.raise_for_status()
                self._certs = dict(response.json())
                match = _MAX_AGE.search(response.headers.get("cache-control", ""))
                max_age = float(match.group(1)) if match else DEFAULT_MAX_AGE_S
                self._expires = time.monotonic() + max_age
            return self._certs


def check_claims(claims: Mapping[str, Any], *, service_account: str) -> None:
    """Google as the issuer; and, when one is configured, the subscription's service account."""
    if claims.get("iss") not in ISSUERS:
        raise AuthenticationFailed("Push token not issued by Google")
    if service_account and (
        claims.get("email") != service_account or claims.get("email_verified") is not True
    ):
        raise AuthenticationFailed("Push token is not the subscription's service account")


def bearer(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed("Push without a bearer token")
    return token.strip()


async def verify(
    token: str, certs: GoogleCerts, *, audience: str, service_account: str
) -> Mapping[str, Any]:
    """The token's claims, or AuthenticationFailed. A key id we do not know yet refreshes the
    certificates once (Google rotates them)."""
    for refresh in (False, True):
        try:
            claims: Mapping[str, Any] = jwt.decode(
                token,
                certs=await certs.get(refresh=refresh),
                audience=audience,
                clock_skew_in_seconds=CLOCK_SKEW_S,
            )
        except (auth_exceptions.GoogleAuthError, ValueError) as exc:
            if refresh or "Certificate for key id" not in str(exc):
                raise AuthenticationFailed("Push token refused") from None
            continue
        check_claims(claims, service_account=service_account)
        return claims
    raise AuthenticationFailed("Push token refused")  # pragma: no cover - the loop returns
