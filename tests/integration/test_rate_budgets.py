"""Two rate-limit budgets per key: polling the status (read) never uses up the budget for
submits (write), each refuses its own burst with 1003 and Retry-After, and an operator sets
an account's budgets with `veo-admin set-rate-limits`, effective at the next request."""

import json
from collections.abc import Callable

import httpx

from shared import key_cache
from shared.settings import Settings, get_settings
from tests.conftest import AccountInfo, Stack
from tests.support.admin import UNKNOWN_JOB, admin
from tests.support.api import fresh_rate_window

TEXT_JOB = {"generationType": "text_to_video", "prompt": "a lighthouse at dusk"}


def _submit(client: httpx.Client, user: AccountInfo) -> httpx.Response:
    return client.post("/api/generate-video", json=TEXT_JOB, headers=user.headers)


def _assert_limited(answer: httpx.Response, budget: str, limit: int) -> None:
    body = answer.json()
    assert (answer.status_code, body["code"]) == (429, 1003), body
    assert body["data"]["budget"] == budget
    assert 1 <= int(answer.headers["Retry-After"]) <= key_cache.RATE_WINDOW_S
    assert answer.headers["X-RateLimit-Limit"] == str(limit)
    assert answer.headers["X-RateLimit-Remaining"] == "0"


def test_status_polls_do_not_use_the_submit_budget(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    user = account(credits=100, rate_limit=3, read_rate_limit=50)
    fresh_rate_window()
    polls = [client.get(UNKNOWN_JOB, headers=user.headers) for _ in range(20)]
    assert {p.json()["code"] for p in polls} == {1000}
    assert polls[-1].headers["X-RateLimit-Limit"] == "50"
    assert polls[-1].headers["X-RateLimit-Remaining"] == "30"

    submits = [_submit(client, user) for _ in range(4)]
    assert [s.json()["code"] for s in submits] == [0, 0, 0, 1003]
    assert [s.headers["X-RateLimit-Remaining"] for s in submits[:3]] == ["2", "1", "0"]
    _assert_limited(submits[-1], "write", 3)
    # The write budget spent, reading goes on.
    assert client.get(UNKNOWN_JOB, headers=user.headers).json()["code"] == 1000


def test_a_burst_of_reads_is_refused_with_retry_after_and_writes_go_on(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    user = account(credits=100, rate_limit=5, read_rate_limit=4)
    fresh_rate_window()
    reads = [client.get(UNKNOWN_JOB, headers=user.headers) for _ in range(6)]
    assert [r.json()["code"] for r in reads] == [1000] * 4 + [1003] * 2
    _assert_limited(reads[-1], "read", 4)
    # Other read endpoints share the read budget.
    listed = client.get("/api/webhooks/deliveries", headers=user.headers)
    _assert_limited(listed, "read", 4)
    assert _submit(client, user).json()["code"] == 0


def test_defaults_apply_to_an_account_without_limits_of_its_own(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    settings: Settings = get_settings()
    user = account(credits=100)
    read = client.get(UNKNOWN_JOB, headers=user.headers)
    write = _submit(client, user)
    assert read.headers["X-RateLimit-Limit"] == str(settings.default_read_rate_limit_per_minute)
    assert write.headers["X-RateLimit-Limit"] == str(settings.default_rate_limit_per_minute)


def test_generous_defaults_cover_the_advised_polling() -> None:
    """The seed advises polling every 5 to 10 s: 20 jobs in flight at every 5 s is 240 a
    minute, well within the default read budget (the test stack raises it; this is the code's)."""
    defaults = Settings.model_fields
    read_default = defaults["default_read_rate_limit_per_minute"].default
    assert read_default >= 20 * 60 / 5
    assert read_default >= 600


def test_an_operator_sets_an_accounts_budgets_effective_at_once(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    user = account(credits=100)
    fresh_rate_window()
    assert client.get(UNKNOWN_JOB, headers=user.headers).json()["code"] == 1000  # now cached

    changed = admin("set-rate-limits", user.account_id, "--write", "7", "--read", "3", "--json")
    assert changed.exit_code == 0, changed.output
    assert json.loads(changed.output) == {"account_id": user.account_id, "write": 7, "read": 3}
    reads = [client.get(UNKNOWN_JOB, headers=user.headers) for _ in range(3)]  # 2nd to 4th
    assert [r.json()["code"] for r in reads] == [1000, 1000, 1003]
    assert reads[0].headers["X-RateLimit-Limit"] == "3"
    assert _submit(client, user).headers["X-RateLimit-Limit"] == "7"

    reset = admin("set-rate-limits", user.account_id, "--read", "0")
    assert reset.exit_code == 0, reset.output
    assert "default" in reset.output
    assert client.get(UNKNOWN_JOB, headers=user.headers).json()["code"] == 1000
    assert admin("set-rate-limits", user.account_id).exit_code == 1  # nothing to set
    assert admin("set-rate-limits", "acct_nobody", "--read", "5").exit_code == 1


def test_what_is_left_of_both_budgets_can_be_read_without_counting(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    """What GET /api/account shows: each budget's limit, what is left, and when it resets."""
    import asyncio

    from shared.keys import hash_api_key
    from shared.redis_client import get_async_redis

    user = account(credits=100, rate_limit=5, read_rate_limit=9)
    fresh_rate_window()
    client.get(UNKNOWN_JOB, headers=user.headers)
    client.get(UNKNOWN_JOB, headers=user.headers)
    _submit(client, user)

    async def peek() -> dict[str, key_cache.Budget]:
        return await key_cache.peek_budgets(get_async_redis(), hash_api_key(user.api_key))

    budgets = asyncio.run(peek())
    assert (budgets["write"].limit, budgets["write"].remaining) == (5, 4)
    assert (budgets["read"].limit, budgets["read"].remaining) == (9, 7)
    assert 1 <= budgets["read"].reset_s <= key_cache.RATE_WINDOW_S
    assert asyncio.run(peek()) == budgets  # peeking counted nothing


def test_each_budget_counts_apart_and_an_older_cache_entry_still_reads(stack: Stack) -> None:
    """Straight against the batch script: a read and a write of one key count in their own
    windows; an entry cached by an older gateway ("<key id> <account id> <limit>") reads
    with the default read limit."""
    import asyncio
    import secrets

    from api_gateway.batching.admission import AdmissionCounter
    from shared.redis_client import get_redis

    key_id = 10**9 + secrets.randbelow(10**9)
    new, old = secrets.token_hex(32), secrets.token_hex(32)
    get_redis().set(
        key_cache.cache_key(new), key_cache.encode(key_cache.KeyRecord(key_id, "acct_a", 3, 7))
    )
    get_redis().set(key_cache.cache_key(old), f"{key_id + 1} acct_b 4", ex=60)

    async def scenario() -> list[list[object]]:
        import redis.asyncio

        client = redis.asyncio.Redis.from_url(stack.redis_url, decode_responses=True)
        try:
            counter = AdmissionCounter(client)
            asks = [
                counter.count(new, budget=key_cache.WRITE),
                counter.count(new, budget=key_cache.READ),
                counter.count(new, budget=key_cache.READ),
                counter.count(old, budget=key_cache.WRITE),
                counter.count(old, budget=key_cache.READ),
            ]
            return list(await asyncio.gather(*asks))
        finally:
            await client.aclose()

    answers = asyncio.run(scenario())
    default_read = get_settings().default_read_rate_limit_per_minute
    counted = [(answer[3], answer[4]) for answer in answers]
    assert counted == [(3, 1), (7, 1), (7, 2), (4, 1), (default_read, 1)]


def test_an_account_is_created_with_both_budgets(client: httpx.Client) -> None:
    created = admin(
        "create-account", "--credits", "5", "--rate-limit", "5", "--read-rate-limit", "9", "--json"
    )
    assert created.exit_code == 0, created.output
    made = json.loads(created.output)
    user = AccountInfo(made["account_id"], made["api_key"])
    assert client.get(UNKNOWN_JOB, headers=user.headers).headers["X-RateLimit-Limit"] == "9"
    assert _submit(client, user).headers["X-RateLimit-Limit"] == "5"
    listed = {row["account_id"]: row for row in json.loads(admin("list-accounts", "--json").output)}
    row = listed[user.account_id]
    assert (row["rate_limit_per_minute"], row["read_rate_limit_per_minute"]) == (5, 9)
