"""GET /api/account and GET /api/account/ledger over HTTP, on a gateway whose jobs no worker
moves, on SQLite and PostgreSQL: what an account sees of its balance, limits, usage and ledger,
and nothing of another account's."""

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from shared.job_options import default_credits
from shared.settings import get_settings
from shared.timeutil import utcnow
from tests.conftest import AccountInfo
from tests.support.api import create_video, fresh_rate_window
from tests.support.quiet_gateway import quiet_client, quiet_gateway

__all__ = ["quiet_client", "quiet_gateway"]  # the fixtures this module uses
pytestmark = pytest.mark.usefixtures("quiet_stack")


def _data(response: httpx.Response, code: int = 0, http: int = 200) -> Any:
    body = response.json()
    assert (body["code"], response.status_code) == (code, http), body
    return body["data"]


def test_the_account_shows_its_balance_limits_usage_and_webhook(
    quiet_client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    info = account(credits=10, rate_limit=50, webhook_url="https://example.com/hook")
    price = default_credits(get_settings())
    fresh_rate_window()
    first = _data(quiet_client.get("/api/account", headers=info.headers))
    assert first == {
        "accountId": info.account_id,
        "name": "",
        "credits": 10,
        "rateLimits": first["rateLimits"],
        "usage": {"month": utcnow().strftime("%Y-%m"), "jobs": 0, "creditsSpent": 0},
        "webhookUrl": "https://example.com/hook",
    }
    write, read = first["rateLimits"]["write"], first["rateLimits"]["read"]
    assert (write["limit"], write["remaining"]) == (50, 50)  # reading spends no write budget
    assert read["limit"] == get_settings().default_read_rate_limit_per_minute
    assert read["remaining"] < read["limit"]  # this request was counted
    for limits in (write, read):
        assert 1 <= limits["resetSeconds"] <= 60

    uuid = create_video(quiet_client, info.headers, "one")
    create_video(quiet_client, info.headers, "two")
    _data(quiet_client.post(f"/api/videos/{uuid}/cancel", headers=info.headers))
    second = _data(quiet_client.get("/api/account", headers=info.headers))

    assert second["credits"] == 10 - price  # two debits, one refund
    assert second["usage"]["jobs"] == 2
    assert second["usage"]["creditsSpent"] == price
    assert second["rateLimits"]["write"]["remaining"] == 50 - 3  # two submits and a cancel
    assert second["rateLimits"]["read"]["remaining"] < read["remaining"]


def test_the_ledger_pages_newest_first_and_shows_only_the_accounts_rows(
    quiet_client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    info, stranger = account(credits=20), account(credits=7)
    made = [create_video(quiet_client, info.headers, f"clip {n}") for n in range(3)]
    create_video(quiet_client, stranger.headers, "someone else's")
    entries: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = _data(quiet_client.get("/api/account/ledger", params=params, headers=info.headers))
        assert len(page["items"]) <= 2
        entries += page["items"]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert [(entry["kind"], entry["jobId"]) for entry in entries] == [
        *(("debit", uuid) for uuid in made[::-1]),
        ("grant", None),
    ]
    assert len({entry["id"] for entry in entries}) == 4
    assert all(entry["createdAt"].endswith("Z") for entry in entries)
    assert entries[-1]["amount"] == 20


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 101}, "limit"),
        ({"cursor": "%%%"}, "cursor"),
        ({"cursor": "eyJpZCI6IngifQ"}, "cursor"),
    ],
)
def test_bad_ledger_parameters_are_a_1000_naming_the_field(
    quiet_client: httpx.Client, account: Callable[..., AccountInfo], params: Any, field: str
) -> None:
    info = account(credits=1)
    response = quiet_client.get("/api/account/ledger", params=params, headers=info.headers)
    assert _data(response, 1000, 400)["field"] == field


@pytest.mark.parametrize("path", ["/api/account", "/api/account/ledger", "/api/videos"])
def test_the_new_endpoints_need_a_key(quiet_client: httpx.Client, path: str) -> None:
    response = quiet_client.get(path)
    assert (response.status_code, response.json()["code"]) == (401, 1002)
