"""The load of a chaos run: jobs whose prompts carry the simulator directive that decides
their fate, so the expected terminal state of each is known before it is created."""

import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from tests.chaos.chaos_stack import ChaosStack

CREDITS_PER_JOB = 2

# --- the fate of each job, decided by the simulator ---------------------------------------------


@dataclass(frozen=True)
class Fate:
    """A prompt directive and what it must end as: status, error code, submissions upstream."""

    name: str
    directive: str
    status: str
    error_code: str | None = None
    accepted: int = 1  # submissions the simulator must have accepted for this job


FATES: list[tuple[Fate, int]] = [  # (fate, weight)
    (Fate("plain", "", "completed"), 60),
    (Fate("slow", "[sim latency=3]", "completed"), 6),
    (Fate("blocked", "[sim block=safety]", "failed", "content_blocked"), 8),
    # code 13 (INTERNAL) is worth one new submission: two operations, then the failure
    (Fate("upstream-error", "[sim error=13]", "failed", "upstream_failed", accepted=2), 5),
    (Fate("rejected", "[sim submit-fault=400]", "failed", "upstream_rejected", accepted=0), 4),
    (Fate("submit-429", "[sim submit-fault=429x2]", "completed"), 6),
    (Fate("poll-500", "[sim poll-fault=500x2]", "completed"), 6),
    (Fate("download-503", "[sim download-fault=503x1]", "completed"), 5),
]


def draw_fates(
    count: int, rng: random.Random, table: list[tuple[Fate, int]] | None = None
) -> list[Fate]:
    fates, weights = zip(*(table or FATES), strict=True)
    return rng.choices(list(fates), weights=list(weights), k=count)


# --- the load -----------------------------------------------------------------------------------


@dataclass
class Submitted:
    index: int
    fate: Fate
    prompt: str
    account: dict[str, Any]
    uuid: str
    webhook_path: str
    tries: int


def submit_all(
    chaos: ChaosStack, fates: list[Fate], run_id: str, *, spread_s: float, threads: int = 8
) -> list[Submitted]:
    """Create every job through the API, retrying each with its Idempotency-Key until answered 0.

    Spread over `spread_s` so the faults land while jobs are being created too.
    """
    start = time.monotonic()
    interval = spread_s / max(1, len(fates))

    def create(index: int) -> Submitted:
        time.sleep(max(0.0, start + index * interval - time.monotonic()))
        fate = fates[index]
        account = chaos.accounts[index % len(chaos.accounts)]
        prompt = f"chaos {run_id} job {index} {fate.directive}".strip()
        path = f"hook/{run_id}/{index}"
        body = {
            "generationType": "text_to_video",
            "prompt": prompt,
            "aspectRatio": "16:9" if index % 2 else "9:16",
            "webhookUrl": chaos.receiver.url(path),
        }
        headers = {
            "Authorization": f"Bearer {account['api_key']}",
            "Idempotency-Key": f"chaos-{run_id}-{index}",
        }
        deadline = time.monotonic() + 120
        tries = 0
        answer: Any = None
        with httpx.Client(base_url=chaos.gateway_url, timeout=15) as http:
            while True:
                tries += 1
                try:
                    answer = http.post("/api/generate-video", json=body, headers=headers).json()
                    if answer["code"] == 0:
                        uuid = answer["data"]["uuid"]
                        return Submitted(index, fate, prompt, account, uuid, path, tries)
                except (httpx.HTTPError, ValueError) as exc:
                    answer = exc
                if time.monotonic() > deadline:
                    raise AssertionError(f"job {index} could not be created: {answer!r}")
                time.sleep(0.3)  # deliberate: a client's pause before retrying

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(create, range(len(fates))))
