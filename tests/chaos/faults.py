"""The faults a chaos run inflicts on its stack, on a schedule drawn from the run's seed."""

import random
import signal
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import psutil
from psycopg import sql

from tests.chaos.chaos_stack import ChaosStack, admin_connection

# --- the faults ---------------------------------------------------------------------------------


@dataclass
class ChaosLog:
    """What was done to the stack and when (time.time()), for the report and for attribution."""

    kills: list[tuple[float, str]] = field(default_factory=list)
    redis_restarts: list[float] = field(default_factory=list)
    receiver_outages: list[tuple[float, float]] = field(default_factory=list)
    db_outages: list[tuple[float, float]] = field(default_factory=list)
    # (start, end, what) of a network cut between a worker and Redis, PostgreSQL or the upstream
    partitions: list[tuple[float, float, str]] = field(default_factory=list)
    crashes: list[tuple[float, str, str]] = field(default_factory=list)  # exited on their own
    errors: list[str] = field(default_factory=list)


class Chaos:
    """The faults, each a method; `run_schedule` plays a list of them in a background thread."""

    def __init__(self, stack: ChaosStack, rng: random.Random) -> None:
        self.stack = stack
        self.rng = rng
        self.log = ChaosLog()
        self.lock = threading.Lock()

    def kill_worker(self, *, webhook: bool = False) -> None:
        """SIGKILL a whole worker (main process and pool) and start a replacement."""
        with self.lock:
            chaos = self.stack
            if webhook and chaos.webhook_worker is not None:
                victim = chaos.webhook_worker
                victim.kill()
                self.log.kills.append((time.time(), f"{victim.name} (webhooks)"))
                chaos.webhook_worker = chaos.workers.start_webhook_worker()
                return
            victim = self.rng.choice(chaos.generation)
            victim.kill()
            self.log.kills.append((time.time(), victim.name))
            chaos.generation.remove(victim)
            chaos.generation.append(chaos.workers.start_worker())

    def kill_pool_child(self) -> None:
        """SIGKILL one pool process of a worker (as an OOM killer would); its parent replaces it."""
        with self.lock:
            victim = self.rng.choice(self.stack.generation)
            try:
                children = psutil.Process(victim.pid).children()
            except psutil.NoSuchProcess:
                children = []
            if not children:
                return
            child = self.rng.choice(children)
            with suppress(psutil.NoSuchProcess):
                child.send_signal(signal.SIGKILL)
                self.log.kills.append((time.time(), f"{victim.name} child {child.pid}"))

    def restart_redis(self) -> None:
        self.log.redis_restarts.append(time.time())
        self.stack.redis.restart_empty()

    def receiver_outage(self, down_s: float) -> None:
        start = time.time()
        self.stack.receiver.down()
        time.sleep(down_s)  # deliberate: the receiver is away for this long
        self.stack.receiver.up()
        self.log.receiver_outages.append((start, time.time()))

    def db_outage(self, down_s: float) -> None:
        """The stack's database refuses new connections and loses its current ones for a while."""
        name = sql.Identifier(self.stack.db_name)
        start = time.time()
        with admin_connection() as admin:
            admin.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(name))
            try:
                while time.time() - start < down_s:
                    admin.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = %s AND pid <> pg_backend_pid()",
                        (self.stack.db_name,),
                    )
                    time.sleep(0.2)
            finally:
                admin.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(name))
        self.log.db_outages.append((start, time.time()))

    def supervise(self, stop: threading.Event) -> threading.Thread:
        """Restart workers that exit on their own, as `restart: unless-stopped` does in compose.

        Each such exit is counted: it is a crash we did not cause (see the report).
        """

        def watch() -> None:
            while not stop.wait(0.5):
                with self.lock:
                    chaos = self.stack
                    for proc in list(chaos.generation):
                        if not proc.alive():
                            self.log.crashes.append((time.time(), proc.name, proc.tail(3)))
                            chaos.generation.remove(proc)
                            chaos.generation.append(chaos.workers.start_worker())
                    hooks = chaos.webhook_worker
                    if hooks is not None and not hooks.alive():
                        self.log.crashes.append((time.time(), hooks.name, hooks.tail(3)))
                        chaos.webhook_worker = chaos.workers.start_webhook_worker()

        thread = threading.Thread(target=watch, name="supervisor", daemon=True)
        thread.start()
        return thread

    def run_schedule(self, events: list[tuple[float, Callable[[], None]]]) -> threading.Thread:
        """Play `(seconds from now, action)` events in order in a thread; returns the thread."""

        def play() -> None:
            origin = time.monotonic()
            for at, action in sorted(events, key=lambda e: e[0]):
                time.sleep(max(0.0, at - (time.monotonic() - origin)))
                try:
                    action()
                except Exception as exc:  # a chaos step failing must not hide the others
                    self.log.errors.append(f"{action}: {exc!r}")

        thread = threading.Thread(target=play, name="chaos", daemon=True)
        thread.start()
        return thread


def schedule(chaos: Chaos, rng: random.Random, window_s: float, *, rounds: int) -> list[Any]:
    """`rounds` of each fault spread over `window_s`, kills at random moments in between."""
    events: list[tuple[float, Callable[[], None]]] = []
    slot = window_s / rounds
    for r in range(rounds):
        base = r * slot
        events.append((base + rng.uniform(0.1, 0.3) * slot, chaos.restart_redis))
        events.append(
            (base + rng.uniform(0.2, 0.4) * slot, lambda: chaos.receiver_outage(min(8.0, slot)))
        )
        events.append((base + rng.uniform(0.5, 0.7) * slot, lambda: chaos.db_outage(3.0)))
    kills = max(3, int(window_s / 4))
    for _ in range(kills):
        roll = rng.random()
        action = (
            chaos.kill_pool_child
            if roll < 0.3
            else (lambda: chaos.kill_worker(webhook=True))
            if roll < 0.4
            else chaos.kill_worker
        )
        events.append((rng.uniform(0.0, window_s), action))
    return events
