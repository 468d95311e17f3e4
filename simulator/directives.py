"""Prompt directives: how a black-box test steers one simulated job from the prompt text alone.

A directive block is ``[sim TOKEN TOKEN ...]`` anywhere in the prompt (case-insensitive, several
blocks allowed, they add up). Tokens are separated by spaces:

=============================  ==============================================================
``latency=S``                  the operation is done S seconds after submit (no jitter)
``never-finish``               the operation never becomes done
``vanish``                     every poll of the operation answers 404 NOT_FOUND
``block=safety|audio``         done with a safety (RAI) block: no video, filtered count 1
``error=CODE``                 done with ``error`` (google.rpc code number or name, e.g. 13)
``submit-fault=F``             fault the submit call (see F below)
``poll-fault=F``               fault the poll call (Gemini GET operation / fetchPredictOperation)
``download-fault=F``           fault the download (Gemini files:download / GCS object read)
``slow=S`` / ``P-slow=S``      answer after S extra seconds (every phase / only phase P)
``retry-after=N``              Retry-After seconds for this prompt's 429s (default 1)
=============================  ==============================================================

F is ``KIND`` or ``KINDxN`` with KIND one of ``429``, ``quota-day``, ``400``, ``403``, ``404``,
``500``, ``502``, ``503``, ``504``, ``drop`` (connection closed without an answer). ``xN`` (or
``*N``, or a separate ``xN`` token as in ``drop x2``) limits the fault to the first N calls of that
phase for this exact prompt text; without it EVERY call of that phase faults. Several faults of
one phase form a sequence: ``poll-fault=500x2 poll-fault=dropx1`` faults polls 1-2 with 500, poll
3 with a dropped connection, then answers normally. Slow takes the same ``xN`` suffix.

Counting is per exact prompt text (directive included) and per phase, so a test can predict
exactly which call faults; ``POST /_sim/reset`` zeroes the counters. A malformed block makes the
submit answer 400 INVALID_ARGUMENT naming the bad token, so typos never pass silently.
"""

import re
from dataclasses import dataclass, field
from functools import lru_cache

from simulator.google_errors import RPC_CODE_NAMES

PHASES: tuple[str, ...] = ("submit", "poll", "download")
FAULT_KINDS: frozenset[str] = frozenset(
    {"400", "403", "404", "429", "500", "502", "503", "504", "drop", "quota-day"}
)
BLOCK_KINDS: frozenset[str] = frozenset({"safety", "audio"})

_BLOCK_RE = re.compile(r"\[sim\b([^\]]*)\]", re.IGNORECASE)
_COUNT_TOKEN_RE = re.compile(r"^[x*](\d+)$")
_FAULT_RE = re.compile(r"^(?P<kind>[a-z0-9-]+?)(?:[x*](?P<n>\d+))?$")
_SLOW_RE = re.compile(r"^(?P<s>\d+(?:\.\d+)?)(?:[x*](?P<n>\d+))?$")
_RPC_CODES_BY_NAME = {name: code for code, name in RPC_CODE_NAMES.items()}


class DirectiveError(ValueError):
    """A `[sim ...]` block that does not parse; the submit answers 400 with this message."""


@dataclass(frozen=True, slots=True)
class Step:
    """One entry of a fault or slow sequence: `count` None means "every call from here on"."""

    kind: str
    count: int | None = None
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class Directives:
    latency_s: float | None = None
    never_finish: bool = False
    vanish: bool = False
    block: str | None = None
    error_code: int | None = None
    retry_after_s: int | None = None
    faults: dict[str, tuple[Step, ...]] = field(default_factory=dict)
    slows: dict[str, tuple[Step, ...]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return self == EMPTY

    def fault_for(self, phase: str, call_index: int) -> Step | None:
        """The fault for the `call_index`-th (0-based) call of `phase`, if any."""
        return _step_at(self.faults.get(phase, ()), call_index)

    def slow_for(self, phase: str, call_index: int) -> float:
        step = _step_at(self.slows.get(phase, ()), call_index)
        return step.seconds if step else 0.0

    def steers(self, phase: str) -> bool:
        return phase in self.faults or phase in self.slows


EMPTY = Directives()


def _step_at(steps: tuple[Step, ...], index: int) -> Step | None:
    for step in steps:
        if step.count is None or index < step.count:
            return step
        index -= step.count
    return None


def strip(prompt: str) -> str:
    """The prompt without directive blocks (what the rendered video shows)."""
    if "[" not in prompt:
        return prompt
    return " ".join(_BLOCK_RE.sub(" ", prompt).split())


def parse(prompt: str) -> Directives:
    """Parse every `[sim ...]` block in `prompt`; prompts without one never touch the cache."""
    if "[" not in prompt or not _BLOCK_RE.search(prompt):
        return EMPTY
    return _parse_blocks(prompt)


@lru_cache(maxsize=1024)
def _parse_blocks(prompt: str) -> Directives:
    """Cached: polls of a steered job re-read the op's stored result, never re-parse."""
    builder = _Builder()
    for block in _BLOCK_RE.findall(prompt):
        for token in block.split():
            builder.add(token.lower())
    return builder.build()


class _Builder:
    def __init__(self) -> None:
        self.values: dict[str, object] = {}
        self.faults: dict[str, list[Step]] = {}
        self.slows: dict[str, list[Step]] = {}
        self.last: tuple[dict[str, list[Step]], str] | None = None  # where a bare `xN` attaches

    def add(self, token: str) -> None:
        count = _COUNT_TOKEN_RE.match(token)
        if count:
            self._attach_count(token, int(count.group(1)))
            return
        self.last = None
        key, _, value = token.partition("=")
        if key in ("never-finish", "vanish") and not value:
            self.values[key.replace("-", "_")] = True
        elif key == "block":
            self.values["block"] = self._block(value or "safety")
        elif key == "latency":
            self.values["latency_s"] = self._number(token, value)
        elif key == "retry-after":
            self.values["retry_after_s"] = int(self._number(token, value))
        elif key == "error":
            self.values["error_code"] = self._error_code(token, value)
        elif key.endswith("-fault") and key.removesuffix("-fault") in PHASES:
            self._fault(token, key.removesuffix("-fault"), value)
        elif key == "slow" or (key.endswith("-slow") and key.removesuffix("-slow") in PHASES):
            phases = PHASES if key == "slow" else (key.removesuffix("-slow"),)
            for phase in phases:
                self._slow(token, phase, value)
        else:
            raise DirectiveError(f"unknown simulator directive {token!r}")

    def build(self) -> Directives:
        return Directives(
            latency_s=self.values.get("latency_s"),  # type: ignore[arg-type]
            never_finish=bool(self.values.get("never_finish", False)),
            vanish=bool(self.values.get("vanish", False)),
            block=self.values.get("block"),  # type: ignore[arg-type]
            error_code=self.values.get("error_code"),  # type: ignore[arg-type]
            retry_after_s=self.values.get("retry_after_s"),  # type: ignore[arg-type]
            faults={phase: tuple(steps) for phase, steps in self.faults.items()},
            slows={phase: tuple(steps) for phase, steps in self.slows.items()},
        )

    def _attach_count(self, token: str, count: int) -> None:
        if self.last is None:
            raise DirectiveError(f"simulator directive {token!r} follows nothing it could count")
        table, phase = self.last
        steps = table[phase]
        if steps[-1].count is not None:
            raise DirectiveError(f"simulator directive {token!r}: the step already has a count")
        steps[-1] = Step(steps[-1].kind, count, steps[-1].seconds)
        self.last = None

    def _fault(self, token: str, phase: str, value: str) -> None:
        match = _FAULT_RE.match(value)
        if not match or match.group("kind") not in FAULT_KINDS:
            kinds = ", ".join(sorted(FAULT_KINDS))
            raise DirectiveError(
                f"simulator directive {token!r}: fault kind must be one of {kinds}"
            )
        count = int(match.group("n")) if match.group("n") else None
        self.faults.setdefault(phase, []).append(Step(match.group("kind"), count))
        self.last = (self.faults, phase) if count is None else None

    def _slow(self, token: str, phase: str, value: str) -> None:
        match = _SLOW_RE.match(value)
        if not match:
            raise DirectiveError(f"simulator directive {token!r}: expected seconds, e.g. slow=3")
        count = int(match.group("n")) if match.group("n") else None
        self.slows.setdefault(phase, []).append(Step("slow", count, float(match.group("s"))))
        self.last = None  # bare `xN` after slow is not supported: write slow=3x2

    @staticmethod
    def _number(token: str, value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise DirectiveError(f"simulator directive {token!r}: expected a number") from None
        if number < 0:
            raise DirectiveError(f"simulator directive {token!r}: must not be negative")
        return number

    @staticmethod
    def _block(value: str) -> str:
        if value not in BLOCK_KINDS:
            raise DirectiveError(f"simulator directive block={value}: use block=safety|audio")
        return value

    @staticmethod
    def _error_code(token: str, value: str) -> int:
        if value.isdigit() and int(value) in RPC_CODE_NAMES:
            return int(value)
        code = _RPC_CODES_BY_NAME.get(value.upper())
        if code is None:
            raise DirectiveError(f"simulator directive {token!r}: expected a google.rpc code 1-16")
        return code
