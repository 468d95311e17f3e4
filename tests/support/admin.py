"""`veo-admin` as an operator runs it (its own process, with the environment given) or in this
process, and what a refused key looks like to its owner."""

import secrets
import subprocess

import httpx
from typer.testing import CliRunner, Result

from admin.cli import app as admin_cli
from devtools.processes import VENV_BIN
from tests.conftest import AccountInfo

UNKNOWN_JOB = "/api/video-status/00000000-0000-0000-0000-000000000000"
TEXT_JOB = {"generationType": "text_to_video", "prompt": "with a refused key"}


def veo_admin(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "veo-admin"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def admin(*args: str) -> Result:
    return CliRunner().invoke(admin_cli, list(args))


def refused_as_unknown(client: httpx.Client, user: AccountInfo) -> None:
    unknown = {"Authorization": "Bearer veo_" + secrets.token_urlsafe(32)}
    for method, path, body in (
        ("GET", UNKNOWN_JOB, None),
        ("POST", "/api/generate-video", TEXT_JOB),
    ):
        answer = client.request(method, path, headers=user.headers, json=body)
        expected = client.request(method, path, headers=unknown, json=body)
        assert (answer.status_code, answer.json()) == (401, expected.json()), answer.text
        assert answer.json()["code"] == 1002
