"""API keys: random, shown once, stored only as a SHA-256 hash (keys have 256 bits of entropy,
so a fast hash is enough; a slow KDF would only slow every request down)."""

import hashlib
import secrets

from shared.constants import API_KEY_PREFIX


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def display_prefix(key: str) -> str:
    return key[: len(API_KEY_PREFIX) + 6]
