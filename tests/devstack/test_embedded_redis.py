"""The embedded Redis launcher: starts, answers, persists, and never leaves an orphan server."""

import signal
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import redis

from devtools.embedded_redis import EmbeddedRedis, EmbeddedRedisError
from devtools.processes import free_port, redis_answers, wait_for


def _launch(port: int, data_dir: Path) -> subprocess.Popen[bytes]:
    argv = [
        sys.executable,
        "-m",
        "devtools.embedded_redis",
        "--port",
        str(port),
        "--dir",
        str(data_dir),
    ]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _url(port: int) -> str:
    return f"redis://127.0.0.1:{port}/0"


def _server_of(launcher: subprocess.Popen[bytes], port: int) -> psutil.Process:
    wait_for(lambda: redis_answers(_url(port)), timeout_s=20, what=f"embedded Redis on {port}")
    children = psutil.Process(launcher.pid).children()
    assert [child.name() for child in children] == ["valkey-server"]
    return children[0]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_launcher_stops_its_server_on_signal(tmp_path: Path, sig: signal.Signals) -> None:
    port = free_port()
    launcher = _launch(port, tmp_path / "redis")
    try:
        server = _server_of(launcher, port)
        launcher.send_signal(sig)
        assert launcher.wait(timeout=15) == 0
        _gone, alive = psutil.wait_procs([server], timeout=10)
        assert not alive, "valkey-server outlived its launcher"
        assert not redis_answers(_url(port))
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_server_dies_with_a_sigkilled_launcher(tmp_path: Path) -> None:
    port = free_port()
    launcher = _launch(port, tmp_path / "redis")
    server = _server_of(launcher, port)
    launcher.send_signal(signal.SIGKILL)
    launcher.wait(timeout=10)
    _gone, alive = psutil.wait_procs([server], timeout=10)
    for leftover in alive:
        leftover.kill()
    assert not alive, "valkey-server survived a SIGKILLed launcher"


def test_restart_keeps_data_and_a_running_server_is_reused(tmp_path: Path) -> None:
    port, data_dir = free_port(), tmp_path / "redis"
    first = EmbeddedRedis(port, data_dir).start()
    try:
        assert first.owned
        with redis.Redis.from_url(first.url) as client:
            client.rpush("queued", "message")
        second = EmbeddedRedis(port, data_dir).start()
        assert not second.owned
        second.stop()  # not ours: a no-op
        assert redis_answers(_url(port))
    finally:
        first.stop()
    assert not redis_answers(_url(port))

    with EmbeddedRedis(port, data_dir) as again, redis.Redis.from_url(again.url) as client:
        assert client.lrange("queued", 0, -1) == [b"message"]  # replayed from the AOF
    assert (data_dir / "appendonlydir").is_dir()


def test_a_port_held_by_something_else_is_an_error(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        with pytest.raises(EmbeddedRedisError, match="does not answer PING"):
            EmbeddedRedis(port, tmp_path / "redis").start()
