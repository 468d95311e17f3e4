"""Opaque page cursors: what a list endpoint needs to resume after the last item it sent,
as URL-safe base64 of JSON. A cursor carries no authority: every query stays within the caller's
own account, so a forged one can only skip that account's own items."""

import base64
import binascii
import json
from typing import Any

from shared.errors import InvalidParameters, invalid

CURSOR_MAX_CHARS = 512  # the routes' cap on the `cursor` parameter


def encode_cursor(position: dict[str, Any]) -> str:
    raw = json.dumps(position, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, **fields: type) -> dict[str, Any]:
    """The position `encode_cursor` wrote, each of `fields` of its type; else the 1000 "cursor"
    error."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw)
    except (ValueError, binascii.Error):
        raise bad_cursor() from None
    if not isinstance(position, dict) or any(
        not isinstance(position.get(name), kind) for name, kind in fields.items()
    ):
        raise bad_cursor()
    return position


def bad_cursor() -> InvalidParameters:
    return invalid("cursor", "not a cursor this endpoint returned")
