"""A TCP relay on an address of the test's own veth to a service on loopback.

PostgreSQL, Redis and the simulator listen on 127.0.0.1 only; a worker in another network
namespace reaches them through this relay, so its connections cross the veth that the run cuts.
The relay itself never times out a connection, as a server without keepalives would not: a
connection the cut silenced stays open on the service's side until the worker gives up on it.
"""

import asyncio
import threading
from contextlib import suppress

CHUNK = 64 * 1024


class Forwarder:
    """Listens on (host, port) pairs and relays each connection to 127.0.0.1:<target port>."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="forwarder", daemon=True)
        self.thread.start()
        self.servers: list[asyncio.Server] = []
        self.writers: set[asyncio.StreamWriter] = set()

    def add(self, host: str, target_port: int) -> int:
        """Relay `host`:<a free port> to 127.0.0.1:`target_port`; returns the port."""

        async def listen() -> int:
            server = await asyncio.start_server(
                lambda r, w: self._relay(r, w, target_port), host=host, port=0
            )
            self.servers.append(server)
            return int(server.sockets[0].getsockname()[1])

        return asyncio.run_coroutine_threadsafe(listen(), self.loop).result(timeout=10)

    async def _relay(
        self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter, target_port: int
    ) -> None:
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", target_port)
        except OSError:
            client_w.close()
            return
        self.writers |= {client_w, server_w}
        await asyncio.gather(
            self._pipe(client_r, server_w), self._pipe(server_r, client_w), return_exceptions=True
        )
        self.writers -= {client_w, server_w}

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy until EOF or an error, then close the other side (a half-close is not needed by
        any protocol relayed here)."""
        try:
            while data := await reader.read(CHUNK):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            with suppress(OSError, RuntimeError):
                writer.close()

    def close(self) -> None:
        async def shut() -> None:
            for server in self.servers:
                server.close()
            for writer in list(self.writers):
                with suppress(OSError, RuntimeError):
                    writer.close()
            relays = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for relay in relays:
                relay.cancel()
            await asyncio.gather(*relays, return_exceptions=True)

        with suppress(Exception):
            asyncio.run_coroutine_threadsafe(shut(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        if not self.thread.is_alive():
            self.loop.close()
