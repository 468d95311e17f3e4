"""The kombu patches hold only for the kombu they were read against: a changed kombu method, or
another kombu release, must stop the build or the process instead of being patched blindly."""

import hashlib
import inspect
import tomllib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import kombu
import pytest
import redis
from kombu.transport.redis import Channel

from shared.kombu_patches import KOMBU_METHODS, KOMBU_VERSION, install

#: sha256 of `inspect.getsource()` of each method in KOMBU_METHODS, as kombu 5.7.0 defines it.
SOURCE_SHA256 = {
    "Channel._connparams": "e9a4295085a8fb905b44e81a935003affdc9e74298b779df4877ba575fbba196",
    "Channel.conn_or_acquire": "25883caca6c4121e73463ac71db4a7037981634eb84b715c2280edaa609c080a",
    "Channel._create_client": "dae92bc4075dafb9b1a1ebd3f72cc7ed3e1bfe3ec1f840a1b1ccdfc6a67deb4d",
    "Channel.pool": "5a99b1533403c64dba7ef6612963e14c1e9ecad0fe45e4df481ed9b5debb0319",
}
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _sha256(method: Any) -> str:
    return hashlib.sha256(inspect.getsource(method).encode()).hexdigest()


@pytest.fixture
def unpatched(monkeypatch: pytest.MonkeyPatch) -> None:
    """kombu's own Channel during the test (the process may have installed the patches already),
    and whatever it was before afterwards."""
    monkeypatch.setattr(Channel, "_connparams", KOMBU_METHODS["Channel._connparams"])
    monkeypatch.setattr(Channel, "conn_or_acquire", KOMBU_METHODS["Channel.conn_or_acquire"])


def test_the_kombu_methods_the_patches_build_on_are_unchanged() -> None:
    """Each kombu method a patch replaces or calls has the source the patches were read against."""
    assert KOMBU_METHODS.keys() == SOURCE_SHA256.keys()
    assert all(m.__module__ == "kombu.transport.redis" for m in KOMBU_METHODS.values())
    now = {name: _sha256(method) for name, method in KOMBU_METHODS.items()}
    changed = {name: sha for name, sha in now.items() if sha != SOURCE_SHA256[name]}
    assert not changed, (
        f"kombu {kombu.__version__} changed {', '.join(changed)}: re-read them in "
        "kombu/transport/redis.py against the patches in shared/kombu_patches.py (and their "
        f"docstring), then record the new hashes here: {changed}"
    )


def test_pyproject_pins_the_kombu_the_patches_were_written_for() -> None:
    """pip installs the one kombu release that install() accepts."""
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    assert f"kombu=={KOMBU_VERSION}" in dependencies


@pytest.mark.usefixtures("unpatched")
def test_install_replaces_only_the_listed_methods_and_is_idempotent() -> None:
    """install() swaps the two methods it names, and a second call changes nothing."""
    before = dict(vars(Channel))
    install()
    after = dict(vars(Channel))
    changed = {name for name, value in after.items() if before.get(name) is not value}
    assert changed == {"_connparams", "conn_or_acquire"}
    assert {f"Channel.{name}" for name in changed} <= KOMBU_METHODS.keys()
    install()
    assert dict(vars(Channel)) == after
    assert all(m.__module__ == "kombu.transport.redis" for m in KOMBU_METHODS.values())


@pytest.mark.usefixtures("unpatched")
def test_install_refuses_another_kombu(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another kombu release stops the process, saying what to re-check, and patches nothing."""
    monkeypatch.setattr(kombu, "__version__", "5.8.0")
    before = dict(vars(Channel))
    with pytest.raises(RuntimeError, match=r"kombu 5\.8\.0 is installed.*kombu 5\.7\.0\. Re-read"):
        install()
    assert dict(vars(Channel)) == before


@pytest.mark.usefixtures("unpatched")
def test_a_channel_whose_connection_was_collected_raises_a_connection_error() -> None:
    """Patch 1: kombu's AttributeError (fatal to a worker) becomes Redis's ConnectionError."""
    install()
    for connection in (None, SimpleNamespace(client=None)):
        with pytest.raises(redis.exceptions.ConnectionError):
            Channel._connparams(SimpleNamespace(connection=connection))


@pytest.mark.usefixtures("unpatched")
def test_a_channel_keeps_one_client_per_connection_pool() -> None:
    """Patch 2: one client while the pool lasts, a new one with a new pool, a given one as is."""
    install()

    def client(connection_pool: object) -> SimpleNamespace:
        return SimpleNamespace(connection_pool=connection_pool)

    channel = SimpleNamespace(pool=SimpleNamespace(connection_kwargs={}), Client=client)
    with Channel.conn_or_acquire(channel) as first, Channel.conn_or_acquire(channel) as second:
        assert first is second
        assert first.connection_pool is channel.pool
    channel.pool = SimpleNamespace(connection_kwargs={})
    with Channel.conn_or_acquire(channel) as third:
        assert third is not first
        assert third.connection_pool is channel.pool
    given = object()
    with Channel.conn_or_acquire(channel, given) as used:
        assert used is given
