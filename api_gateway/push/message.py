"""Which operation a Pub/Sub push message concerns.

Pub/Sub wraps what the publisher sent as `{"message": {"data": <base64>, "attributes": {...},
"messageId": ...}, "subscription": ...}`. Google does not document the body Vertex AI publishes
for a Veo operation's progress, so the name is looked for in the attributes and in a JSON
`data`, under the names Google uses for operations; anything else is acknowledged and ignored.
A push only ever makes us poll the operation now: the poll's answer decides the job.
"""

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any

NAME_KEYS = ("operationName", "operation_name", "name")
# What an upstream operation name looks like on either surface (and fits its column).
OPERATION = re.compile(
    r"^(projects/|models/)[A-Za-z0-9._~/@:-]{1,400}/operations/[A-Za-z0-9._~-]{1,100}$"
)


def _from(fields: Any) -> str | None:
    if not isinstance(fields, Mapping):
        return None
    for key in NAME_KEYS:
        value = fields.get(key)
        if isinstance(value, str) and OPERATION.match(value):
            return value
    return None


def _decoded(data: Any) -> Any:
    if not isinstance(data, str):
        return None
    try:
        return json.loads(base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError):
        return None


def operation_name(envelope: Any) -> str | None:
    """The operation named by a push envelope, or None when it names none we could poll."""
    message = envelope.get("message") if isinstance(envelope, Mapping) else None
    if not isinstance(message, Mapping):
        return None
    return _from(message.get("attributes")) or _from(_decoded(message.get("data")))
