"""Texts for finished-but-failed operations: `error.message` and RAI filter reasons."""

from simulator.google_errors import RPC_CODE_NAMES

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
