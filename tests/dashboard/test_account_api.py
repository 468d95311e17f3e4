"""What the dashboard does is also possible through the API: keys, the webhook endpoint and
its secret; and the operator's login link."""

from collections.abc import Callable

import httpx
from typer.testing import CliRunner

from admin.cli import app as admin_cli
from tests.conftest import AccountInfo


def _data(response: httpx.Response) -> object:
    body = response.json()
    assert body["code"] == 0, body
    return body["data"]


def test_keys_are_listed_created_and_revoked_through_the_api(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    user, stranger = account(credits=1), account(credits=1)
    created = _data(client.post("/api/keys", headers=user.headers))
    new = {"Authorization": f"Bearer {created['apiKey']}"}
    listed = _data(client.get("/api/keys", headers=new))
    assert listed[0]["prefix"] == created["prefix"]
    assert created["apiKey"] not in str(listed)
    new_id = listed[0]["id"]

    refused = client.delete(f"/api/keys/{new_id}", headers=stranger.headers).json()
    assert refused["code"] == 1000  # another account's key: as an unknown one
    assert _data(client.delete(f"/api/keys/{new_id}", headers=user.headers))["revoked"] is True
    assert client.get("/api/keys", headers=new).json()["code"] == 1002
    (old, revoked) = sorted(_data(client.get("/api/keys", headers=user.headers)), key=str)[:2]
    assert {old["revokedAt"] is None, revoked["revokedAt"] is None} == {True, False}
    assert any(key["lastUsedAt"] for key in _data(client.get("/api/keys", headers=user.headers)))


def test_the_webhook_endpoint_and_secret_through_the_api(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    user = account(credits=1)
    url = "http://127.0.0.1:9/veo"
    assert _data(client.put("/api/webhooks/endpoint", json={"url": url}, headers=user.headers))
    assert _data(client.get("/api/account", headers=user.headers))["webhookUrl"] == url
    bad = client.put(
        "/api/webhooks/endpoint", json={"url": "http://169.254.169.254/"}, headers=user.headers
    )
    assert bad.json()["data"]["field"] == "url"
    before = _data(client.get("/api/webhooks/secret", headers=user.headers))
    after = _data(client.post("/api/webhooks/secret/rotate", headers=user.headers))
    assert after["secret"] != before["secret"]
    assert after["alsoSigning"] == [before["secret"]]


def test_the_operator_prints_a_login_link(
    account: Callable[..., AccountInfo], gateway_url: str
) -> None:
    user = account(credits=1)
    result = CliRunner().invoke(admin_cli, ["login-link", user.account_id])
    assert result.exit_code == 0, result.output
    assert "/dashboard/login/" in result.stdout
    with httpx.Client(base_url=gateway_url) as browser:
        path = result.stdout.splitlines()[0].split("/dashboard/", 1)[1]
        page = browser.get(f"/dashboard/{path}")
        assert page.status_code == 200
        assert "Sign in" in page.text
