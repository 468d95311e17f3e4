"""veo-dev: the settings table, the demo key, the Flower wrapper, and the Procfile."""

import os
import secrets
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from honcho.environ import parse_procfile
from pydantic import SecretStr

from devtools import banner, devstack, environment, settings_doc
from devtools.processes import VENV_BIN, free_port
from shared.settings import Settings, get_settings
from shared.stack_record import StackRecord, read_record, write_record

ROOT = Path(__file__).resolve().parents[2]


def _veo_dev(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "veo-dev"), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_settings_table_lists_every_setting() -> None:
    result = _veo_dev("settings-table")
    assert result.returncode == 0, result.stderr
    listed = {
        line.split("`")[1] for line in result.stdout.splitlines() if line.startswith("| `VEO_")
    }
    assert listed == {f"VEO_{name.upper()}" for name in Settings.model_fields}


def test_every_setting_says_what_it_means() -> None:
    blank = [row.variable for row in settings_doc.settings_rows() if not row.meaning]
    assert not blank, (
        f"{blank}: add a comment on the field's line in shared/settings.py "
        "(or a line in devtools/settings_doc.py MEANINGS)"
    )


def test_configuration_doc_table_is_current() -> None:
    result = _veo_dev("settings-table", "--check", str(ROOT / "docs" / "configuration.md"))
    assert result.returncode == 0, (
        "run: .venv/bin/veo-dev settings-table --write docs/configuration.md"
    )


def test_procfile_runs_the_seven_processes_each_replacing_its_shell() -> None:
    processes = parse_procfile((ROOT / "Procfile").read_text()).processes
    names = {"gateway", "worker", "inputs", "webhooks", "beat", "flower", "simulator"}
    assert set(processes) == names
    for name, command in processes.items():
        assert "exec " in command, f"{name}: without exec, signals stop at the shell"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str) -> Iterator[Path]:
    """Settings pointing at a fresh SQLite file and the suite's Redis (under a prefix of its
    own: never whatever answers on the embedded default port), restored afterwards."""
    from shared import db, migrate, redis_client

    for name in [key for key in os.environ if key.startswith("VEO_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("VEO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("VEO_REDIS_URL", redis_url)
    monkeypatch.setenv("VEO_REDIS_KEY_PREFIX", f"veotest-{secrets.token_hex(4)}:")
    get_settings.cache_clear()
    redis_client._client.cache_clear()
    db.forget_engines()
    migrate.upgrade()
    yield tmp_path
    db.dispose_engines()
    get_settings.cache_clear()
    redis_client._client.cache_clear()
    db.forget_engines()


def test_demo_key_is_created_once_and_replaced_when_revoked(data_dir: Path) -> None:
    from admin.cli import app as admin

    key, created = environment.ensure_demo_key(get_settings())
    assert created
    path = data_dir / environment.DEMO_KEY_FILE
    assert path.read_text().strip() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert environment.ensure_demo_key(get_settings()) == (key, False)

    from typer.testing import CliRunner

    assert CliRunner().invoke(admin, ["revoke-key", key]).exit_code == 0
    replacement, created = environment.ensure_demo_key(get_settings())
    assert created
    assert replacement != key
    assert path.read_text().strip() == replacement


def test_flower_password_is_generated_once_and_private(tmp_path: Path) -> None:
    from worker import flower

    settings = Settings(data_dir=tmp_path)
    password = flower.flower_password(settings)
    assert password
    assert flower.flower_password(settings) == password
    assert stat.S_IMODE(flower.password_path(settings).stat().st_mode) == 0o600
    assert flower.basic_auth(settings) == f"admin:{password}"
    assert (
        flower.flower_password(Settings(data_dir=tmp_path, flower_password=SecretStr("s3cret")))
        == "s3cret"
    )


def test_flower_runs_read_only_bounded_and_without_the_password_in_argv(tmp_path: Path) -> None:
    from worker import flower

    settings = Settings(data_dir=tmp_path, flower_port=5999)
    argv = flower.flower_argv(settings)
    assert argv[:6] == [sys.executable, "-m", "celery", "-A", "worker.app", "flower"]
    assert {"--port=5999", "--read_only", "--max_tasks=10000"} <= set(argv)
    assert not any(flower.flower_password(settings) in arg for arg in argv)


def test_flower_refuses_a_password_flower_would_split(tmp_path: Path) -> None:
    from worker import flower

    with pytest.raises(ValueError, match="must not contain ','"):
        flower.basic_auth(Settings(data_dir=tmp_path, flower_password=SecretStr("a,b")))


def test_embedded_redis_is_used_only_without_veo_redis_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VEO_REDIS_URL", raising=False)
    assert environment.uses_embedded_redis(Settings())
    assert not environment.uses_embedded_redis(Settings(redis_url="redis://elsewhere:6379/0"))


def test_the_running_stack_records_its_redis_in_the_data_dir_until_it_stops(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the Procfile runs, `<data_dir>/stack.json` names the stack's Redis; then it is gone."""
    for variable in ("VEO_GATEWAY_PORT", "VEO_FLOWER_PORT", "VEO_SIMULATOR_PORT"):
        monkeypatch.setenv(variable, str(free_port()))
    get_settings.cache_clear()
    seen: list[StackRecord | None] = []

    def procfile(_env: dict[str, str], _banner: banner.Banner) -> int:
        seen.append(read_record(data_dir))
        return 0

    monkeypatch.setattr(devstack, "run_procfile", procfile)
    settings = get_settings()
    assert devstack._run_stack(settings, {}, "(test)") == 0
    assert seen == [StackRecord(os.getpid(), settings.redis_url)]
    assert read_record(data_dir) is None


def test_a_second_stack_on_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    write_record(tmp_path, "redis://127.0.0.1:1/0")  # this test's process is the live stack
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEO_")}
    result = subprocess.run(
        [str(VENV_BIN / "veo-dev"), "run"],
        env={**env, "VEO_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"a stack already runs on {tmp_path.resolve()} (pid {os.getpid()})" in result.stdout
