"""Finished-but-failed operations: the `error` body, its `error.message` and RAI filter reasons."""

from typing import Any

from simulator.google_errors import RPC_CODE_NAMES
from simulator.operations import Operation

_ERROR_MESSAGES: dict[int, str] = {
    3: "The request is invalid for video generation (simulated INVALID_ARGUMENT).",
    8: "Resource exhausted while generating the video (simulated RESOURCE_EXHAUSTED).",
    13: "Internal error encountered during video generation (simulated INTERNAL).",
    14: "The service is currently unavailable (simulated UNAVAILABLE).",
}

_RAI_REASONS: dict[str, str] = {
    "safety": (
        "Veo could not generate 1 videos because the input prompt or the generated content "
        "was flagged by the safety filters (simulated). You have not been charged for this "
        "attempt. Support codes: 00000001"
    ),
    "audio": (
        "We encountered an issue with the audio for your prompt (simulated). Please try a "
        "different prompt. You have not been charged for this attempt."
    ),
}


def error_message(code: int) -> str:
    name = RPC_CODE_NAMES.get(code, "UNKNOWN")
    return _ERROR_MESSAGES.get(code, f"Video generation failed (simulated {name}).")


def rai_reason(kind: str | None) -> str:
    return _RAI_REASONS.get(kind or "safety", _RAI_REASONS["safety"])


def failed_operation(op: Operation) -> dict[str, Any]:
    """A done operation that failed, as both protocols answer it (13 INTERNAL unless directed)."""
    code = op.directives.error_code or 13
    return {"name": op.name, "done": True, "error": {"code": code, "message": error_message(code)}}
