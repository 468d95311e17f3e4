"""The patch of httpx-aiohttp's exception map: written for one version, and it says so."""

import hashlib
import importlib.util
import inspect
from collections.abc import Iterator
from types import ModuleType

import aiohttp
import httpx
import pytest
from httpx_aiohttp import transport

from worker.upstream import aiohttp_patch

# sha256 of the source of httpx_aiohttp.transport.map_aiohttp_exceptions in 0.2.0: the patch
# relies on it reading AIOHTTP_EXC_MAP at every error and keeping the most specific match.
MAPPER_SOURCE_SHA256 = "e98820cc04b9b076326fad0297488b640e2c7ec1eb738101877378884da0b78a"


def pristine_transport() -> ModuleType:
    """A fresh copy of httpx_aiohttp.transport, as the package defines it, before any patch."""
    origin = transport.__spec__.origin if transport.__spec__ else None
    assert origin is not None
    spec = importlib.util.spec_from_file_location("pristine_httpx_aiohttp_transport", origin)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mapped(error: Exception) -> type[Exception]:
    """The httpx error the installed map turns `error` into."""
    with pytest.raises(httpx.TransportError) as caught, transport.map_aiohttp_exceptions():
        raise error
    return type(caught.value)


@pytest.fixture
def installed() -> Iterator[None]:
    aiohttp_patch.install()
    yield
    assert list(transport.AIOHTTP_EXC_MAP.items()) == list(aiohttp_patch.PATCHED.items())


def test_the_package_defines_the_map_the_patch_was_written_for() -> None:
    """A new httpx-aiohttp with another exception map fails here before it fails in production."""
    pristine = pristine_transport()
    assert list(pristine.AIOHTTP_EXC_MAP.items()) == list(aiohttp_patch.WRITTEN_FOR.items())


def test_the_mapper_is_the_one_the_patch_was_written_for() -> None:
    """The mapper reads the global map at every error and keeps the most specific match."""
    source = inspect.getsource(transport.map_aiohttp_exceptions)
    assert hashlib.sha256(source.encode()).hexdigest() == MAPPER_SOURCE_SHA256


@pytest.mark.usefixtures("installed")
@pytest.mark.parametrize(
    ("error", "expected"),
    [
        # a dropped connection is no timeout (0.2 maps it to ConnectTimeout)
        (aiohttp.ClientConnectionError("dropped"), httpx.TransportError),
        (aiohttp.ServerDisconnectedError(), httpx.RemoteProtocolError),
        (aiohttp.ClientOSError(104, "Connection reset by peer"), httpx.ReadError),
        (aiohttp.ConnectionTimeoutError(), httpx.ConnectTimeout),
        (TimeoutError(), httpx.TimeoutException),  # 0.2 leaves it unmapped
        # the entries of 0.2 that were right stay as they were
        (aiohttp.SocketTimeoutError(), httpx.ReadTimeout),
        (aiohttp.ClientPayloadError("truncated"), httpx.ReadError),
    ],
)
def test_aiohttp_errors_become_the_httpx_errors_httpx_would_raise(
    error: Exception, expected: type[Exception]
) -> None:
    """Each failure reaches classify_exception named for what happened."""
    assert mapped(error) is expected


@pytest.mark.usefixtures("installed")
def test_install_twice_patches_once() -> None:
    """A second install finds the map patched and leaves it as it is."""
    aiohttp_patch.install()


def test_install_refuses_another_minor_version(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a version it was not written for, the worker fails at start, saying why."""
    monkeypatch.setattr(transport, "AIOHTTP_EXC_MAP", dict(aiohttp_patch.WRITTEN_FOR))
    monkeypatch.setattr(aiohttp_patch, "_installed_version", lambda: "0.3.0")
    with pytest.raises(RuntimeError, match=r"httpx-aiohttp 0\.3\.0 is installed"):
        aiohttp_patch.install()


def test_install_refuses_a_map_it_was_not_written_for(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 0.2 release whose map changed is refused too: the patch could hide or undo the change."""
    changed = {**aiohttp_patch.WRITTEN_FOR, aiohttp.ClientConnectionError: httpx.ConnectError}
    before = dict(changed)
    monkeypatch.setattr(transport, "AIOHTTP_EXC_MAP", changed)
    with pytest.raises(RuntimeError, match="not the map"):
        aiohttp_patch.install()
    assert changed == before  # left untouched
