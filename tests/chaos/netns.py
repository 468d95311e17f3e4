"""A worker "host" of the test's own: a Linux network namespace joined to this one by veth pairs.

One veth pair per path the host depends on (Redis, PostgreSQL, the upstream, webhook
receivers), each a /30 inside one /28 of 10.231.0.0/16 chosen per run, so each path can be cut on
its own. The services stay on loopback; `Forwarder` listens on the host end of each pair and
relays to them, so the namespaced worker's own TCP connections cross the cut. The webhook
receiver binds to its pair's host address directly: a webhook URL must mean the same to every
worker, in the namespace or not.

Cuts: `down` sets the namespace end's link down (new connections fail at once, open ones stall
and then fail, as on a host whose own link went down). `drop` makes every packet vanish on the
wire, both ways, so open connections go half-open and nothing tells either end: each end's
neighbour entry for the other points at a hardware address nobody has, so frames are sent and
discarded by the receiving end (netem's 100 % loss, which this kernel lacks; a zero-length
queue would not do: the sender's own TCP sees such local drops and gives up in seconds). Only
addresses of this namespace's own veths are ever used. Namespaces are named after the creating
process, so a run removes the leftovers of crashed runs (their process is gone) and never another
live run's.
"""

import ipaddress
import os
import random
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum

NS_PREFIX = "veo-part-"
NOBODY = "02:00:00:00:de:ad"  # a locally administered hardware address no interface has
SUPERNET = ipaddress.ip_network("10.231.0.0/16")


class Route(StrEnum):
    """What a worker host talks to; each has its own veth pair."""

    REDIS = "redis"
    POSTGRES = "postgres"
    UPSTREAM = "upstream"
    RECEIVER = "receiver"


class Cut(StrEnum):
    DOWN = "down"  # link down: abrupt
    DROP = "drop"  # every packet dropped both ways: half-open


def _run(tool: str, args: tuple[str, ...], netns: str | None, check: bool) -> str:
    """Run `tool args` (inside `netns` if given); its stdout, or RuntimeError if it failed."""
    prefix = ["ip", "netns", "exec", netns] if netns else []
    done = subprocess.run(
        [*prefix, tool, *args], capture_output=True, text=True, timeout=20, check=False
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"{tool} {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def ip(*args: str, netns: str | None = None, check: bool = True) -> str:
    return _run("ip", args, netns, check)


def unavailable_reason() -> str | None:
    """Why this machine cannot run a namespaced host (None: it can)."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "`ip` is not installed (iproute2)"
    probe = f"{NS_PREFIX}{os.getpid()}-probe"
    try:
        ip("netns", "add", probe)
    except RuntimeError as exc:
        return f"cannot create a network namespace: {exc}"
    ip("netns", "del", probe, check=False)
    return None


def remove_stale() -> list[str]:
    """Delete namespaces left by runs whose process is gone (their veths go with them)."""
    removed = []
    for line in ip("netns", "list").splitlines():
        name = line.split()[0] if line.split() else ""
        match = re.fullmatch(rf"{NS_PREFIX}(\d+)-\w+", name)
        if match and not _alive(int(match.group(1))):
            ip("netns", "del", name, check=False)
            removed.append(name)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _free_block(rng: random.Random) -> ipaddress.IPv4Network:
    """A /28 of SUPERNET that no interface on this machine has an address in."""
    used = ip("-4", "-o", "addr", "show")
    for _ in range(200):
        block = ipaddress.ip_network(f"10.231.{rng.randrange(256)}.{16 * rng.randrange(16)}/28")
        prefix = ".".join(str(block.network_address).split(".")[:3]) + "."
        if not any(
            ipaddress.ip_address(a) in block
            for a in re.findall(rf"inet ({re.escape(prefix)}\d+)/", used)
        ):
            return block
    raise RuntimeError("no free /28 in 10.231.0.0/16")


@dataclass
class Link:
    """One veth pair: `host_dev` in our namespace, `ns_dev` in the worker host's."""

    path: Route
    host_dev: str
    ns_dev: str
    host_address: str
    ns_address: str
    cut: Cut | None = None


@dataclass
class WorkerHost:
    """The namespace and its links; `cut(path, how)` and `heal(path)` act on one link."""

    netns: str
    block: ipaddress.IPv4Network
    links: dict[Route, Link] = field(default_factory=dict)

    def exec_prefix(self) -> list[str]:
        """Prefix an argv with this to run it inside the namespace."""
        return ["ip", "netns", "exec", self.netns]

    def address(self, path: Route) -> str:
        """Where the namespace reaches `path`: the host end of its pair."""
        return self.links[path].host_address

    def cut(self, path: Route, how: Cut) -> None:
        link = self.links[path]
        if link.cut is not None:
            self.heal(path)
        if how is Cut.DOWN:
            ip("link", "set", link.ns_dev, "down", netns=self.netns)
        else:  # each end sends to a hardware address nobody has: frames leave, nothing arrives
            ip("neigh", "replace", link.host_address, "lladdr", NOBODY, "dev", link.ns_dev,
               "nud", "permanent", netns=self.netns)  # fmt: skip
            ip("neigh", "replace", link.ns_address, "lladdr", NOBODY, "dev", link.host_dev,
               "nud", "permanent")  # fmt: skip
        link.cut = how

    def heal(self, path: Route) -> None:
        link = self.links[path]
        if link.cut is Cut.DOWN:
            ip("link", "set", link.ns_dev, "up", netns=self.netns)
        elif link.cut is Cut.DROP:  # forget the false addresses; ARP finds the real ones again
            ip("neigh", "del", link.host_address, "dev", link.ns_dev, netns=self.netns, check=False)
            ip("neigh", "del", link.ns_address, "dev", link.host_dev, check=False)
        link.cut = None

    def heal_all(self) -> None:
        for path in self.links:
            self.heal(path)

    def remove(self) -> None:
        """Delete the namespace; the kernel deletes both ends of every veth with it."""
        ip("netns", "del", self.netns, check=False)
        for link in self.links.values():  # in case one was never moved into the namespace
            ip("link", "del", link.host_dev, check=False)


@contextmanager
def worker_host(rng: random.Random | None = None) -> Iterator[WorkerHost]:
    """A fresh namespace with one veth pair per Route; removed on leaving, even on failure."""
    remove_stale()
    rng = rng or random.Random(secrets.randbits(32))
    tag = secrets.token_hex(3)
    host = WorkerHost(f"{NS_PREFIX}{os.getpid()}-{tag}", _free_block(rng))
    try:
        ip("netns", "add", host.netns)
        ip("link", "set", "lo", "up", netns=host.netns)
        subnets = list(host.block.subnets(new_prefix=30))
        for index, path in enumerate(Route):
            host_end, ns_end = (str(a) for a in subnets[index].hosts())
            link = Link(path, f"vgp{tag}{index}h", f"vgp{tag}{index}n", host_end, ns_end)
            ip("link", "add", link.host_dev, "type", "veth", "peer", "name", link.ns_dev,
               "netns", host.netns)  # fmt: skip
            host.links[path] = link
            ip("addr", "add", f"{host_end}/30", "dev", link.host_dev)
            ip("link", "set", link.host_dev, "up")
            ip("addr", "add", f"{ns_end}/30", "dev", link.ns_dev, netns=host.netns)
            ip("link", "set", link.ns_dev, "up", netns=host.netns)
        yield host
    finally:
        host.remove()
