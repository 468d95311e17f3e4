"""A patch of httpx-aiohttp 0.2, on purpose: its global exception map, so that a failed upstream
request reaches `classify_exception` as the httpx error httpx itself would have raised.

Why httpx-aiohttp: the upstream requests go through httpx's interface on aiohttp's connection
pool (worker/upstream/transport.py), which brought an in-flight poll from 0.69 to 0.45 ms of CPU.

Why the patch: httpx-aiohttp 0.2 maps every broken connection (refused, dropped) to
ConnectTimeout, and leaves a malformed answer, other aiohttp errors and a bare timeout unmapped,
so they would escape as aiohttp errors that nothing here classifies. Its mapper
(`map_aiohttp_exceptions`) reads the module-level `AIOHTTP_EXC_MAP` at every error and picks, of
the entries an error matches, the most specific httpx error: the broad entries added here never
hide a narrower one.

`install()` refuses what it was not written for: another minor version, or a map that differs
from the one 0.2.0 ships (WRITTEN_FOR). tests/unit/test_aiohttp_patch.py also fails when the
mapper's source changes. On a new httpx-aiohttp, read both again before updating this module.
"""

from collections.abc import Mapping
from importlib import metadata
from typing import Final

import aiohttp
import httpx
from httpx_aiohttp import transport

DISTRIBUTION = "httpx-aiohttp"
WRITTEN_FOR_VERSION = "0.2"  # the minor version pyproject.toml allows (>=0.2,<0.3)

# AIOHTTP_EXC_MAP as httpx-aiohttp 0.2.0 defines it (with aiohttp >= 3.10, which it requires).
WRITTEN_FOR: Final[Mapping[type[Exception], type[httpx.TransportError]]] = {
    aiohttp.ServerTimeoutError: httpx.TimeoutException,
    aiohttp.SocketTimeoutError: httpx.ReadTimeout,
    aiohttp.ClientConnectionError: httpx.ConnectTimeout,
    aiohttp.ClientConnectorError: httpx.ConnectError,
    aiohttp.ClientPayloadError: httpx.ReadError,
    aiohttp.ClientProxyConnectionError: httpx.ProxyError,
    aiohttp.ClientHttpProxyError: httpx.ProxyError,
    aiohttp.NonHttpUrlClientError: httpx.UnsupportedProtocol,
    aiohttp.InvalidUrlClientError: httpx.UnsupportedProtocol,
}
# A dropped connection is no timeout: the broad transport error, unless a narrower entry matches.
REPLACED: Final[Mapping[type[Exception], type[httpx.TransportError]]] = {
    aiohttp.ClientConnectionError: httpx.TransportError,  # was ConnectTimeout
}
ADDED: Final[Mapping[type[Exception], type[httpx.TransportError]]] = {
    aiohttp.ServerDisconnectedError: httpx.RemoteProtocolError,
    aiohttp.ConnectionTimeoutError: httpx.ConnectTimeout,
    aiohttp.ClientOSError: httpx.ReadError,
    aiohttp.ClientResponseError: httpx.RemoteProtocolError,
    aiohttp.ClientError: httpx.TransportError,
    TimeoutError: httpx.TimeoutException,
}
# The map once installed, in its order: the mapper's choice between unrelated matches follows it.
PATCHED: Final[Mapping[type[Exception], type[httpx.TransportError]]] = {
    **WRITTEN_FOR,
    **REPLACED,
    **ADDED,
}


def _installed_version() -> str:
    return metadata.version(DISTRIBUTION)


def _items(mapping: Mapping[type[Exception], type[Exception]]) -> list[tuple[type, type]]:
    return list(mapping.items())


def install() -> None:
    """Patch httpx-aiohttp's exception map (once: a second call finds it patched and returns).

    Raises RuntimeError, naming what differs, on a version or a map it was not written for.
    """
    mapping = transport.AIOHTTP_EXC_MAP
    if _items(mapping) == _items(PATCHED):
        return
    version = _installed_version()
    if not version.startswith(f"{WRITTEN_FOR_VERSION}."):
        msg = (
            f"{DISTRIBUTION} {version} is installed, but worker/upstream/aiohttp_patch.py patches "
            f"the exception map of {WRITTEN_FOR_VERSION}.x: check that version's "
            "AIOHTTP_EXC_MAP and map_aiohttp_exceptions, then update the patch"
        )
        raise RuntimeError(msg)
    if _items(mapping) != _items(WRITTEN_FOR):
        msg = (
            f"{DISTRIBUTION} {version}: AIOHTTP_EXC_MAP is not the map "
            "worker/upstream/aiohttp_patch.py was written for (WRITTEN_FOR): "
            f"read it again and update the patch; it holds {mapping!r}"
        )
        raise RuntimeError(msg)
    mapping.update(PATCHED)
