"""What each submit sent, kept so tests can compare the wire bodies of two clients field by field.

Inline images are replaced by a digest (`sha256:<hex>:<bytes>`): two clients that sent the same
image still compare equal, and ten thousand captured operations do not hold ten thousand images.
Refused submits are kept too (the last few hundred), with Google's answer, because a test of an
error case has no operation to look at.
"""

import base64
import binascii
import hashlib
from collections import deque
from typing import Any

MAX_REFUSED = 256


def redact(value: Any) -> Any:
    """A copy of a JSON body with every `bytesBase64Encoded` string replaced by its digest."""
    if isinstance(value, dict):
        return {
            key: digest(item) if key == "bytesBase64Encoded" else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


def digest(encoded: Any) -> Any:
    """`sha256:<hex>:<length>` of the decoded bytes (standard or URL-safe base64)."""
    if not isinstance(encoded, str):
        return encoded
    text = encoded.replace("-", "+").replace("_", "/")
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return encoded[:64]
    return f"sha256:{hashlib.sha256(data).hexdigest()}:{len(data)}"


class Captures:
    """Submits the simulator refused: (prompt, path, body, error body), oldest dropped first."""

    def __init__(self) -> None:
        self.refused: deque[dict[str, Any]] = deque(maxlen=MAX_REFUSED)

    def refuse(self, *, path: str, prompt: str, body: Any, error: dict[str, Any]) -> None:
        self.refused.append({"path": path, "prompt": prompt, "body": redact(body), "error": error})

    def refused_for(self, prompt: str | None) -> list[dict[str, Any]]:
        return [item for item in self.refused if prompt is None or item["prompt"] == prompt]

    def reset(self) -> None:
        self.refused.clear()
