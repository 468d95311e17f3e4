"""The per-account upload quota: an upload that would take an account's stored images past
`upload_quota_bytes` is a clear 1000 (HTTP 413) saying the quota; another account is not
affected."""

from collections.abc import Callable

import httpx

from tests.conftest import AccountInfo, Stack, running_gateway
from tests.uploads.images import image_bytes


def _upload(url: str, user: AccountInfo, data: bytes) -> httpx.Response:
    files = {"file": ("a.png", data, "image/png")}
    return httpx.post(f"{url}/api/upload-video-image", headers=user.headers, files=files)


def test_an_upload_past_the_accounts_quota_is_refused(
    stack: Stack, account: Callable[..., AccountInfo]
) -> None:
    image = image_bytes("PNG")
    quota = int(len(image) * 2.5)
    user, neighbour = account(credits=1), account(credits=1)
    with running_gateway(stack, "gateway-quota", env={"VEO_UPLOAD_QUOTA_BYTES": str(quota)}) as url:
        codes = [_upload(url, user, image).json()["code"] for _ in range(2)]
        refused = _upload(url, user, image)
        assert _upload(url, neighbour, image).json()["code"] == 0
    assert codes == [0, 0]
    body = refused.json()
    assert (refused.status_code, body["code"]) == (413, 1000), body
    assert body["data"]["field"] == "file"
    assert "quota" in body["msg"]
    assert body["data"]["quotaBytes"] == quota
    assert body["data"]["usedBytes"] == 2 * len(image)
