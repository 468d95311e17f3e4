"""Which operation a Pub/Sub push names (api_gateway/push/message.py): found where Google puts
names, and nothing for anything else, so that a strange push is acknowledged and ignored."""

import base64
import json
from typing import Any

import pytest

from api_gateway.push.message import operation_name

VERTEX = (
    "projects/p/locations/us-central1/publishers/google/models/veo-3.1-generate-001/operations/1a"
)
GEMINI = "models/veo-3.1-generate-preview/operations/abc123"


def data(value: Any) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


@pytest.mark.parametrize(
    ("envelope", "expected"),
    [
        ({"message": {"data": data({"name": VERTEX, "done": True})}}, VERTEX),
        ({"message": {"data": data({"operationName": GEMINI})}}, GEMINI),
        ({"message": {"attributes": {"operationName": VERTEX}}}, VERTEX),
        ({"message": {"attributes": {"name": "x"}, "data": data({"name": VERTEX})}}, VERTEX),
        ({"message": {"data": "not base64!"}}, None),
        ({"message": {"data": base64.b64encode(b"\xff\xfe").decode()}}, None),
        ({"message": {"data": data(["a", "list"])}}, None),
        ({"message": {"data": data({"name": "projects/p/../../etc/passwd"})}}, None),
        ({"message": {"data": data({"name": VERTEX + "/" + "x" * 600})}}, None),
        ({"message": "text"}, None),
        ({}, None),
        ([], None),
    ],
)
def test_the_operation_a_push_names(envelope: Any, expected: str | None) -> None:
    assert operation_name(envelope) == expected
