"""Property-based fuzzing of every operation of the served OpenAPI schema (schemathesis).

Valid and invalid requests, generated from `/openapi.json` of a running gateway, with a valid
API key: no answer may be a 5xx, every answer is the `{code, msg, data}` envelope with one of the
seed's codes, and every answer matches what the schema documents for it (status, content type,
body schema). Bounded: a fixed number of examples per operation and mode, no shrinking database.
"""

import time
from collections.abc import Callable
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from hypothesis.strategies import just
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import AccountInfo

SEED_CODES = {0, 1000, 1001, 1002, 1003, 5000}
EXAMPLES_PER_OPERATION = 25  # x 2 modes x ~11 operations: a few hundred requests
BUDGET_S = 60.0
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def checks_for(label: str) -> list[Any]:
    """GET /api/ready answers 503 by design while the stack cannot work (here: no beat)."""
    if label.startswith("GET /api/ready"):
        return [check for check in CHECKS if check is not not_a_server_error]
    return CHECKS


def assert_envelope(response: Any) -> None:
    """Every JSON answer of /api is the seed's envelope with a seed code (files are binary)."""
    if response.request.method == "HEAD":
        assert not response.content
        return
    if "/api/files/" in (response.request.url or "") and response.status_code < 300:
        return
    body = response.json()
    assert set(body) == {"code", "msg", "data"}, body
    assert body["code"] in SEED_CODES, body
    assert isinstance(body["msg"], str)
    assert body["msg"], body
    assert (body["code"] == 0) == (response.status_code < 300), (response.status_code, body)


def test_every_operation_survives_generated_requests(
    gateway_url: str, account: Callable[..., AccountInfo]
) -> None:
    user = account(credits=1_000_000)
    schema = schemathesis.openapi.from_url(f"{gateway_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8, [op.label for op in operations]
    started = time.monotonic()
    failures: dict[str, str] = {}
    sent = [0]

    def check(case: Any, label: str) -> None:
        sent[0] += 1
        headers = {**(case.headers or {}), **user.headers}
        response = case.call(base_url=gateway_url, headers=headers, timeout=15)
        try:
            assert_envelope(response)
            case.validate_response(response, checks=checks_for(label))
        except (AssertionError, BaseExceptionGroup) as exc:  # schemathesis raises groups
            key = f"{label} {type(exc).__name__}: {exc!s}"
            failures.setdefault(key.split("Reproduce with", maxsplit=1)[0][:300], key[:1500])

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            label = f"{operation.label} [{mode.value}]"
            run = settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )(given(case=operation.as_strategy(generation_mode=mode), label=just(label))(check))
            try:
                run()
            except Unsatisfiable:
                continue  # no way to make this operation's input invalid (no parameters)
            except Exception as exc:
                failures[repr(exc)[:300]] = f"{label} {exc!r}"[:1500]
            if time.monotonic() - started > BUDGET_S:
                failures["budget"] = f"stopped at {label}: over {BUDGET_S:.0f} s"
                break
    assert httpx.get(f"{gateway_url}/api/health", timeout=5).status_code == 200
    assert not failures, "\n\n".join(failures.values())
    assert sent[0] >= 200, sent
