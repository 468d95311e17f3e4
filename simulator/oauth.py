"""OAuth for the Vertex surface: service-account files, the JWT-bearer token endpoint, tokens.

google-auth's `service_account.Credentials.refresh()` signs an RS256 JWT with the file's private
key (header `kid` = private_key_id; claims iss = client_email, aud =
"https://oauth2.googleapis.com/token" whatever the token_uri, scope, iat, exp = iat + 3600) and
POSTs it form-encoded as `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=...`
to the file's `token_uri`. We verify that JWT against the public key we stored when we wrote the
file and answer `{"access_token", "expires_in": 3600, "token_type": "Bearer"}`.

Persistence (so files and tokens survive a simulator restart): under `{data_dir}/simulator/oauth/`
we keep `keys/{private_key_id}.json` (client_email + PUBLIC key; the private key only ever lives in
the file we hand out) and `token-secret`, the HMAC key access tokens are signed with. Tokens are
self-contained (`ya29.sim.<claims>.<hmac>`), so checking one is a dict hit or one HMAC, and a
token issued before a restart stays valid until it expires.
"""

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL, not a secret
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
TOKEN_LIFETIME_S = 3600
CLOCK_SKEW_S = 300
TOKEN_PREFIX = "ya29.sim."  # noqa: S105 - a format marker, not a secret
DEFAULT_PROJECT_ID = "veo-simulator"
_TOKEN_CACHE_MAX = 10_000


class OAuthError(Exception):
    """Answered as Google's token endpoint does: `{"error", "error_description"}`, HTTP 400."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


@dataclass(frozen=True, slots=True)
class AccessToken:
    email: str
    scopes: frozenset[str]
    expires_at: float


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class OAuthServer:
    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "keys").mkdir(parents=True, exist_ok=True)
        self._secret = _load_or_create_secret(root / "token-secret")
        self._keys: dict[str, tuple[str, rsa.RSAPublicKey]] = {}
        self._tokens: dict[str, AccessToken] = {}

    # --- service accounts ----------------------------------------------------------------------
    def create_service_account(
        self, token_uri: str, project_id: str = DEFAULT_PROJECT_ID
    ) -> dict[str, str]:
        """A fresh key pair; the public half is registered on disk, the whole file returned."""
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key_id = secrets.token_hex(20)
        email = f"veo-sim-{key_id[:10]}@{project_id}.iam.gserviceaccount.com"
        public_pem = private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        record = {
            "client_email": email,
            "project_id": project_id,
            "public_key_pem": public_pem.decode(),
        }
        (self.root / "keys" / f"{key_id}.json").write_text(json.dumps(record, indent=2))
        private_pem = private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        client_id = str(int(hashlib.sha256(key_id.encode()).hexdigest()[:16], 16))
        return {
            "type": "service_account",
            "project_id": project_id,
            "private_key_id": key_id,
            "private_key": private_pem.decode(),
            "client_email": email,
            "client_id": client_id,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{email}",
            "universe_domain": "googleapis.com",
        }

    def knows_key(self, key_id: str) -> bool:
        return self._public_key(key_id) is not None

    def _public_key(self, key_id: str) -> tuple[str, rsa.RSAPublicKey] | None:
        known = self._keys.get(key_id)
        if known is not None:
            return known
        if not key_id.isalnum():
            return None
        path = self.root / "keys" / f"{key_id}.json"
        if not path.exists():  # keys written by another process appear on disk: look there
            return None
        record = json.loads(path.read_text())
        public_key = serialization.load_pem_public_key(record["public_key_pem"].encode())
        if not isinstance(public_key, rsa.RSAPublicKey):
            return None
        self._keys[key_id] = (record["client_email"], public_key)
        return self._keys[key_id]

    # --- token endpoint --------------------------------------------------------------------------
    def exchange(self, form: dict[str, str], token_url: str) -> dict[str, Any]:
        """The JWT-bearer grant; raises OAuthError exactly where Google would refuse."""
        if form.get("grant_type") != JWT_BEARER_GRANT:
            raise OAuthError(
                "unsupported_grant_type", "Invalid grant_type: " + form.get("grant_type", "")
            )
        claims = self._verify_assertion(form.get("assertion", ""), token_url)
        scope = str(claims.get("scope", "")).strip()
        if not scope:
            raise OAuthError("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        expires_at = int(time.time()) + TOKEN_LIFETIME_S
        return {
            "access_token": self._issue(str(claims["iss"]), scope, expires_at),
            "expires_in": TOKEN_LIFETIME_S,
            "token_type": "Bearer",
        }

    def _verify_assertion(self, assertion: str, token_url: str) -> dict[str, Any]:
        try:
            header_b64, payload_b64, signature_b64 = assertion.split(".")
            header = json.loads(_b64url_decode(header_b64))
            claims = json.loads(_b64url_decode(payload_b64))
            signature = _b64url_decode(signature_b64)
        except (ValueError, TypeError):
            raise OAuthError("invalid_grant", "Invalid JWT: malformed assertion.") from None
        if (
            not isinstance(header, dict)
            or not isinstance(claims, dict)
            or header.get("alg") != "RS256"
        ):
            raise OAuthError("invalid_grant", "Invalid JWT: only RS256 assertions are accepted.")
        known = self._public_key(str(header.get("kid", "")))
        if known is None:
            raise OAuthError("invalid_grant", "Invalid JWT Signature.")
        email, public_key = known
        try:
            public_key.verify(
                signature,
                f"{header_b64}.{payload_b64}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except InvalidSignature:
            raise OAuthError("invalid_grant", "Invalid JWT Signature.") from None
        if claims.get("iss") != email:
            raise OAuthError("invalid_grant", "Invalid JWT: issuer does not own this key.")
        if claims.get("aud") not in (GOOGLE_TOKEN_AUDIENCE, token_url):
            raise OAuthError("invalid_grant", "Invalid JWT: Failed audience check.")
        now = time.time()
        try:
            issued, expires = float(claims["iat"]), float(claims["exp"])
        except (KeyError, TypeError, ValueError):
            raise OAuthError("invalid_grant", "Invalid JWT: iat and exp are required.") from None
        if (
            issued > now + CLOCK_SKEW_S
            or expires < now - CLOCK_SKEW_S
            or expires - issued > TOKEN_LIFETIME_S
        ):
            raise OAuthError(
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
                "timeframe. Check your iat and exp values in the JWT claim.",
            )
        return claims

    # --- access tokens -------------------------------------------------------------------------
    def _issue(self, email: str, scope: str, expires_at: int) -> str:
        claims = _b64url(
            json.dumps({"e": email, "s": scope, "x": expires_at}, separators=(",", ":")).encode()
        )
        return f"{TOKEN_PREFIX}{claims}.{self._sign(claims)}"

    def _sign(self, claims: str) -> str:
        return _b64url(hmac.new(self._secret, claims.encode(), hashlib.sha256).digest())

    def check_token(self, token: str) -> AccessToken | None:
        """The token's grant if we issued it and it has not expired; None otherwise."""
        grant = self._tokens.get(token)
        if grant is None:
            grant = self._decode(token)
            if grant is None:
                return None
            if len(self._tokens) >= _TOKEN_CACHE_MAX:
                self._tokens.clear()
            self._tokens[token] = grant
        if grant.expires_at < time.time():
            return None
        return grant

    def _decode(self, token: str) -> AccessToken | None:
        if not token.startswith(TOKEN_PREFIX):
            return None
        claims, _, signature = token.removeprefix(TOKEN_PREFIX).partition(".")
        if not hmac.compare_digest(signature, self._sign(claims)):
            return None
        data = json.loads(_b64url_decode(claims))
        return AccessToken(data["e"], frozenset(data["s"].split()), float(data["x"]))


def _load_or_create_secret(path: Path) -> bytes:
    if path.exists():
        return bytes.fromhex(path.read_text().strip())
    secret = secrets.token_bytes(32)
    path.write_text(secret.hex())
    path.chmod(0o600)
    return secret


def oauth_root(data_dir: Path) -> Path:
    return data_dir / "simulator" / "oauth"


def write_service_account(
    path: Path, *, simulator_url: str, data_dir: Path, project_id: str = DEFAULT_PROJECT_ID
) -> dict[str, str]:
    """Write a service-account JSON the simulator at `simulator_url` (same data_dir) accepts.

    Idempotent: an existing file whose key is registered in this data_dir and whose token_uri
    already points at this simulator is left untouched (and returned).
    """
    token_uri = simulator_url.rstrip("/") + "/token"
    server = OAuthServer(oauth_root(data_dir))
    if path.exists():
        try:
            existing = json.loads(path.read_text())
        except ValueError:
            existing = {}
        if existing.get("token_uri") == token_uri and server.knows_key(
            str(existing.get("private_key_id", ""))
        ):
            return {str(k): str(v) for k, v in existing.items()}
    info = server.create_service_account(token_uri, project_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Atomic: several workers may write it at once; each file is valid, the last one stays.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    tmp.write_text(json.dumps(info, indent=2) + "\n")
    tmp.chmod(0o600)
    os.replace(tmp, path)
    return info
