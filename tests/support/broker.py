"""What the tasks published, read back from the broker (Redis lists under the settings' key
prefix) as a worker would receive it, for tests that run task bodies without a worker."""

import json
from base64 import b64decode
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis

from shared.settings import get_settings


@dataclass(frozen=True)
class Queued:
    """One waiting message."""

    task: str
    args: list[Any]
    eta: datetime | None  # set by a countdown: no worker runs it before then


def queued(queue: str) -> list[Queued]:
    """The messages waiting in `queue`, oldest first."""
    settings = get_settings()
    client = redis.Redis.from_url(settings.redis_url)
    try:
        raw = client.lrange(f"{settings.redis_key_prefix}{queue}", 0, -1)
    finally:
        client.close()
    messages = []
    for item in reversed(raw):  # kombu pushes on the left
        message = json.loads(item)
        headers = message["headers"]
        args = json.loads(b64decode(message["body"]))[0]
        eta = datetime.fromisoformat(headers["eta"]) if headers.get("eta") else None
        messages.append(Queued(headers["task"], args, eta))
    return messages
