"""The SDK and the `veo` command against a real gateway for the account's own endpoints: list,
cancel, delete, account and ledger. The gateway serves a database no worker serves, so a
pending job stays pending until the test cancels it."""

import json
import secrets
from collections.abc import Callable

import pytest
from veo_client import InvalidRequest, NotFound, VeoClient

from tests.client.test_stack import veo
from tests.conftest import AccountInfo
from tests.support.quiet_gateway import quiet_client, quiet_gateway  # noqa: F401 - fixtures

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.one_database,
    pytest.mark.usefixtures("quiet_stack"),
]


def test_a_pending_video_is_listed_cancelled_refunded_once_and_deleted(
    quiet_gateway: str,  # noqa: F811 - the fixture
    account: Callable[..., AccountInfo],
) -> None:
    user = account(credits=10)
    with VeoClient(user.api_key, quiet_gateway) as client:
        made = [client.generate(f"clip {n} #{secrets.token_hex(3)}") for n in range(3)]
        charged = 10 - client.account().credits
        assert charged > 0
        listed = [video.uuid for video in client.list(limit=2)]  # two pages and a bit
        assert listed == [video.uuid for video in reversed(made)]
        assert all(video.queue_position is not None for video in client.list(status="pending"))

        cancelled = client.cancel(made[0].uuid)
        assert cancelled.status == "cancelled"
        with pytest.raises(InvalidRequest):
            client.cancel(made[0].uuid)  # a terminal video: refused, refunded no second time
        assert client.account().credits == 10 - charged + charged // 3
        refunds = [entry for entry in client.ledger() if entry.kind == "refund"]
        assert [(entry.job_id, entry.amount) for entry in refunds] == [(made[0].uuid, charged // 3)]

        assert client.delete(made[0].uuid).deleted
        with pytest.raises(NotFound):
            client.status(made[0].uuid)
        assert made[0].uuid not in [video.uuid for video in client.list()]


def test_the_cli_lists_cancels_and_shows_the_account_as_json(
    quiet_gateway: str,  # noqa: F811 - the fixture
    account: Callable[..., AccountInfo],
) -> None:
    user = account(credits=10)
    created = json.loads(
        veo(quiet_gateway, user.api_key, "generate", "a quiet lake", "--json").stdout
    )
    listed = json.loads(veo(quiet_gateway, user.api_key, "list", "--json").stdout)
    assert created["uuid"] in [item["uuid"] for item in listed["items"]]

    cancel = veo(quiet_gateway, user.api_key, "cancel", created["uuid"], "--json")
    assert cancel.returncode == 0, cancel.stderr
    assert json.loads(cancel.stdout)["status"] == "cancelled"
    shown = json.loads(veo(quiet_gateway, user.api_key, "account", "--json").stdout)
    assert shown["credits"] == 10  # charged, then refunded in full


def test_another_accounts_video_is_unknown_to_the_sdk(
    quiet_gateway: str,  # noqa: F811 - the fixture
    account: Callable[..., AccountInfo],
) -> None:
    owner, stranger = account(credits=10), account(credits=10)
    with VeoClient(owner.api_key, quiet_gateway) as client:
        uuid = client.generate("mine").uuid
    with VeoClient(stranger.api_key, quiet_gateway) as client:
        for call in (client.status, client.cancel, client.delete):
            with pytest.raises(NotFound):
                call(uuid)
        assert uuid not in [video.uuid for video in client.list()]
