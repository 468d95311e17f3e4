"""Where the settings find the Redis when VEO_REDIS_URL is not set: the record of the dev stack
running on the data dir (shared/stack_record.py), else the embedded Redis's port."""

import subprocess
import sys
from pathlib import Path

import pytest

from shared.settings import RedisUrlOrigin, Settings
from shared.stack_record import read_record, remove_record, write_record


def test_the_running_stacks_record_gives_the_redis_unless_veo_redis_url_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VEO_REDIS_URL", raising=False)
    assert Settings(data_dir=tmp_path).redis_url_origin is RedisUrlOrigin.EMBEDDED
    assert Settings(data_dir=tmp_path, embedded_redis_port=7001).redis_url == (
        "redis://127.0.0.1:7001/0"
    )
    write_record(tmp_path, "redis://127.0.0.1:7002/0")
    try:
        recorded = Settings(data_dir=tmp_path)
        assert recorded.redis_url == "redis://127.0.0.1:7002/0"
        assert recorded.redis_url_origin is RedisUrlOrigin.RUNNING_STACK
        given = Settings(data_dir=tmp_path, redis_url="redis://elsewhere:6379/0")
        assert given.redis_url == "redis://elsewhere:6379/0"
        assert given.redis_url_origin is RedisUrlOrigin.GIVEN
        assert (tmp_path / "stack.json").stat().st_mode & 0o077 == 0
    finally:
        remove_record(tmp_path)
    assert not (tmp_path / "stack.json").exists()


def test_the_record_of_a_stack_that_died_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stack killed with SIGKILL leaves its record behind; its Redis died with it."""
    monkeypatch.delenv("VEO_REDIS_URL", raising=False)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "stack.json").write_text(f'{{"pid": {dead.pid}, "redis_url": "redis://x:1/0"}}')
    assert read_record(tmp_path) is None
    assert Settings(data_dir=tmp_path).redis_url_origin is RedisUrlOrigin.EMBEDDED
