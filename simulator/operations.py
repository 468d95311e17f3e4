"""In-memory operations: a slotted record each, done-ness computed from the clock when polled.

There are no timers and no background tasks: an operation is "done" once `time.time()` passes
`created_at + latency_s`. 10,000 in-flight operations therefore cost one small object each, and a
poll is a dict lookup plus a comparison. Videos are never stored here (see media.py).
"""

import base64
import os
import time
import uuid
from dataclasses import dataclass
from typing import Any

from simulator.directives import Directives

RUNNING = "running"
SUCCEEDED = "succeeded"
BLOCKED = "blocked"
FAILED = "failed"


@dataclass(slots=True, eq=False)
class Operation:
    """One accepted generation. `parent` is the resource the name hangs off (surface specific)."""

    id: str
    surface: str  # "gemini" or "vertex"
    parent: str  # models/{m}  |  projects/{p}/locations/{l}/publishers/google/models/{m}
    model: str
    prompt: str
    directives: Directives
    aspect_ratio: str
    duration_s: int
    samples: int
    image_key: str | None  # content key of the stored input image (image-to-video)
    storage_uri: str | None  # Vertex parameters.storageUri: results come back as gcsUri
    created_at: float
    latency_s: float
    resolution: str = "720p"
    pubsub_topic: str | None = None  # Vertex parameters.pubsubTopic: push when done
    polls: int = 0
    first_seen_done_at: float | None = None
    downloads: int = 0
    first_download_at: float | None = None
    download_done_at: float | None = None  # when the first full download was sent
    pushes: int = 0  # push deliveries attempted
    pushed_at: float | None = None  # when a push was first accepted (2xx)
    request: dict[str, Any] | None = None  # the submit's path and body, images as digests

    @property
    def name(self) -> str:
        return f"{self.parent}/operations/{self.id}"

    @property
    def done_at(self) -> float | None:
        """When the operation became (or will become) done; None if it never finishes."""
        if self.directives.never_finish:
            return None
        return self.created_at + self.latency_s

    @property
    def outcome(self) -> str:
        if self.directives.error_code is not None:
            return FAILED
        if self.directives.block is not None:
            return BLOCKED
        return SUCCEEDED

    def state(self, now: float) -> str:
        done_at = self.done_at
        if done_at is None or now < done_at:
            return RUNNING
        return self.outcome

    def record_download(self, now: float) -> None:
        """Count one delivery of the video (redirect, inline or GCS read); keep the first time."""
        self.downloads += 1
        if self.first_download_at is None:
            self.first_download_at = now

    def record_download_done(self, now: float) -> None:
        """The last byte of a download was handed to the client (the first time it happens)."""
        if self.download_done_at is None:
            self.download_done_at = now

    def describe(self, now: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "surface": self.surface,
            "model": self.model,
            "prompt": self.prompt,
            "state": self.state(now),
            "vanished": self.directives.vanish,
            "aspect_ratio": self.aspect_ratio,
            "duration_s": self.duration_s,
            "samples": self.samples,
            "image_to_video": self.image_key is not None,
            "storage_uri": self.storage_uri,
            "created_at": self.created_at,
            "latency_s": self.latency_s,
            "done_at": self.done_at,
            "polls": self.polls,
            "first_seen_done_at": self.first_seen_done_at,
            "downloads": self.downloads,
            "first_download_at": self.first_download_at,
            "download_done_at": self.download_done_at,
            "resolution": self.resolution,
            "pubsub_topic": self.pubsub_topic,
            "pushes": self.pushes,
            "pushed_at": self.pushed_at,
            "request": self.request,
        }


def new_gemini_id() -> str:
    """Gemini operation ids look like `321kvdcepmcg`: 12 lowercase letters and digits."""
    return base64.b32encode(os.urandom(10)).decode().lower()[:12]


def new_vertex_id() -> str:
    return str(uuid.uuid4())


class Registry:
    """Every accepted operation plus the per-prompt submission ledger tests assert on."""

    def __init__(self) -> None:
        self.ops: dict[str, Operation] = {}
        self.by_prompt: dict[str, list[str]] = {}

    def add(self, op: Operation) -> None:
        self.ops[op.id] = op
        self.by_prompt.setdefault(op.prompt, []).append(op.id)

    def get(self, op_id: str) -> Operation | None:
        return self.ops.get(op_id)

    def find(self, ref: str) -> Operation | None:
        """Look up by bare id or by full operation name."""
        return self.ops.get(ref.rpartition("/operations/")[2] or ref)

    def counts(self, now: float) -> dict[str, int]:
        """O(n) over operations: fine for a stats call, never on the poll path."""
        totals = {RUNNING: 0, SUCCEEDED: 0, BLOCKED: 0, FAILED: 0}
        for op in self.ops.values():
            totals[op.state(now)] += 1
        return {
            "total": len(self.ops),
            "in_flight": totals[RUNNING],
            "done": len(self.ops) - totals[RUNNING],
        } | totals

    def reset(self) -> None:
        self.ops.clear()
        self.by_prompt.clear()


def now() -> float:
    return time.time()
