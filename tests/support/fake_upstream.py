"""An in-memory upstream for task-logic tests: the `Upstream` protocol with scripted answers.

It speaks the interface the tasks use (worker/upstream/base.py), not a wire protocol: the
simulator covers the wire. Each answer is scripted up front, so a test says what the upstream
does ("refuse the next submit with a 429", "finish after three polls", "fail the download")
and then runs the task's body in-process against it.

    upstream = FakeUpstream()
    upstream.refuse_submits(quota_exceeded(retry_after_s=7))
    upstream.script_next_operation(RUNNING, RUNNING, finished())
"""

from collections import Counter, deque
from pathlib import Path

from shared.errors import (
    UpstreamConfigError,
    UpstreamOutcomeUnknown,
    UpstreamPermanentError,
    UpstreamResubmittable,
    UpstreamTransientError,
)
from worker.upstream.base import PollResult, SubmitRequest, VideoRef

# A few bytes stand in for the MP4: nothing in the task logic looks inside it.
VIDEO_BYTES = b"\x00\x00\x00\x18ftypmp42 fake video"
RUNNING = PollResult(done=False)

Answer = PollResult | UpstreamTransientError | UpstreamPermanentError
SubmitError = UpstreamTransientError | UpstreamOutcomeUnknown | UpstreamPermanentError


def finished(data: bytes = VIDEO_BYTES) -> PollResult:
    """A finished operation whose video comes back inline (as Vertex sends it)."""
    return PollResult(done=True, videos=(VideoRef(data=data),))


def generation_failed(code: str = "content_blocked", *, refund: bool = True) -> PollResult:
    """A finished operation that produced no video (the upstream's verdict, not an error)."""
    failure = UpstreamPermanentError("blocked by safety filters", code=code, refund=refund)
    return PollResult(done=True, failure=failure)


def operation_failed(rpc_code: int = 13) -> PollResult:
    """A finished operation whose google.rpc error is worth a new submission (8, 13, 14)."""
    failure = UpstreamResubmittable(
        f"upstream operation failed (code {rpc_code}): internal error", rpc_code=rpc_code
    )
    return PollResult(done=True, failure=failure)


def no_answer() -> UpstreamOutcomeUnknown:
    """A submit sent but never answered (read timeout, dropped connection): maybe accepted."""
    return UpstreamOutcomeUnknown("upstream submit failed: ReadTimeout: timed out")


def quota_exceeded(retry_after_s: float | None = None) -> UpstreamTransientError:
    """A 429, as the adapters classify it."""
    return UpstreamTransientError("quota exceeded", status=429, retry_after_s=retry_after_s)


def unavailable(status: int = 503) -> UpstreamTransientError:
    """A 5xx or a dropped connection: try again later."""
    return UpstreamTransientError(f"upstream answered {status}", status=status)


def rejected(code: str = "upstream_error", *, refund: bool = True) -> UpstreamPermanentError:
    """A request the upstream will never take (a 400, a lost operation)."""
    return UpstreamPermanentError("rejected by the upstream", code=code, status=400, refund=refund)


def retired_model() -> UpstreamConfigError:
    """Our own configuration is wrong: the model is gone."""
    return UpstreamConfigError("model is no longer available", status=404)


class FakeUpstream:
    """Scripted answers, and a record of every call the tasks made.

    Submits are accepted unless `refuse_submits` queued errors for them. Each accepted
    operation answers its polls from a script (`script_next_operation`, else `default_polls`),
    one answer per poll, repeating the script's last answer once it runs out.
    """

    name = "fake"

    def __init__(self, *default_polls: Answer) -> None:
        self.default_polls: tuple[Answer, ...] = default_polls or (finished(),)
        self.requests: list[SubmitRequest] = []  # every submit call, refused ones too
        self.polls: Counter[str] = Counter()  # poll calls per operation
        self.downloads: list[VideoRef] = []
        self.model_error: UpstreamConfigError | None = None
        self.closed = False
        self._submit_errors: deque[SubmitError] = deque()
        self._download_errors: deque[UpstreamTransientError | UpstreamPermanentError] = deque()
        self._next_scripts: deque[tuple[Answer, ...]] = deque()
        self._scripts: dict[str, tuple[Answer, ...]] = {}

    def refuse_submits(self, *errors: SubmitError) -> None:
        """The next submits raise these, in order; later submits are accepted."""
        self._submit_errors.extend(errors)

    def script_next_operation(self, *answers: Answer) -> None:
        """How the next accepted operation answers its polls (its last answer repeats)."""
        self._next_scripts.append(answers)

    def fail_downloads(self, *errors: UpstreamTransientError | UpstreamPermanentError) -> None:
        """The next downloads raise these, in order."""
        self._download_errors.extend(errors)

    @property
    def operations(self) -> list[str]:
        """The operations accepted so far, in order."""
        return list(self._scripts)

    async def check_model(self) -> None:
        if self.model_error is not None:
            raise self.model_error

    async def submit(self, request: SubmitRequest) -> str:
        self.requests.append(request)
        if self._submit_errors:
            raise self._submit_errors.popleft()
        operation = f"models/fake/operations/{len(self._scripts) + 1}"
        self._scripts[operation] = (
            self._next_scripts.popleft() if self._next_scripts else self.default_polls
        )
        return operation

    async def poll(self, operation: str) -> PollResult:
        script = self._scripts.get(operation)
        if script is None:
            raise UpstreamPermanentError("operation not found", code="upstream_lost", status=404)
        answer = script[min(self.polls[operation], len(script) - 1)]
        self.polls[operation] += 1
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def download(self, video: VideoRef, dest: Path, *, max_bytes: int) -> int:
        self.downloads.append(video)
        if self._download_errors:
            raise self._download_errors.popleft()
        data = video.data or b""
        if len(data) > max_bytes:
            raise UpstreamPermanentError(
                f"video is larger than the {max_bytes}-byte limit", code="video_too_large"
            )
        dest.write_bytes(data)
        return len(data)

    async def aclose(self) -> None:
        self.closed = True
