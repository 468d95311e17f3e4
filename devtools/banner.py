"""What `veo-dev run` tells its user: which ports are taken before it starts, and the banner
with every URL, the demo key and a first request once the gateway and the simulator answer."""

import socket
import threading
import time
from dataclasses import dataclass

from rich.console import Console
from rich.text import Text

from devtools.environment import SIMULATOR_CONTROL_FILE
from devtools.processes import http_ok
from shared.settings import Settings, without_password

console = Console(highlight=False, soft_wrap=True)  # URLs and keys stay on one line
READY_TIMEOUT_S = 90.0  # first start imports a lot; a cold laptop can take a while
SAMPLE_PROMPT = "A beautiful sunset over the ocean with waves gently lapping the shore"


def local_url(host: str, port: int) -> str:
    """A URL to reach a listener from this machine (0.0.0.0 is not an address to connect to)."""
    if host in {"0.0.0.0", "::", ""}:  # noqa: S104 - comparing, not binding
        host = "127.0.0.1"
    return f"http://{host}:{port}"


def busy_ports(settings: Settings) -> str:
    """The listeners of the Procfile whose port is taken, named with their variable; "" if none.

    Checked before starting anything, so a second `make run` fails with one clear line instead
    of a gateway traceback followed by the whole stack stopping.
    """
    listeners = {
        "VEO_GATEWAY_PORT": (settings.gateway_host, settings.gateway_port),
        "VEO_FLOWER_PORT": (settings.flower_host, settings.flower_port),
        "VEO_SIMULATOR_PORT": (settings.simulator_host, settings.simulator_port),
    }
    taken = []
    for variable, (host, port) in listeners.items():
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do
            try:
                sock.bind((host, port))
            except OSError:
                taken.append(f"{variable}={port}")
    return ", ".join(taken)


@dataclass
class Banner:
    settings: Settings
    api_key: str
    flower_password: str
    redis_note: str

    @property
    def gateway(self) -> str:
        return local_url(self.settings.gateway_host, self.settings.gateway_port)

    @property
    def simulator(self) -> str:
        return self.settings.simulator_url

    @property
    def metrics(self) -> str:
        """The Prometheus endpoints: the gateway's and the worker host's exporter."""
        s = self.settings
        gateway = f"{self.gateway}/metrics" if s.metrics_enabled else "gateway: off"
        if s.worker_metrics_port <= 0:
            return gateway
        workers = f"{local_url(s.worker_metrics_host, s.worker_metrics_port)}/metrics"
        return f"{gateway}  workers {workers}"

    def print(self) -> None:
        s = self.settings
        rows = [
            ("Gateway", self.gateway),
            ("Dashboard", f"{self.gateway}/dashboard  sign in with the API key below"),
            ("API docs", f"{self.gateway}/docs"),
            (
                "Flower",
                f"{local_url(s.flower_host, s.flower_port)}  "
                f"user {s.flower_user}  password {self.flower_password}",
            ),
            ("Metrics", self.metrics),
            ("Redis", f"{without_password(s.redis_url)}  {self.redis_note}"),
            ("Database", without_password(s.database_url)),
            (
                "Simulator",
                f"{self.simulator}  control token in {s.data_dir / SIMULATOR_CONTROL_FILE}",
            ),
        ]
        console.rule("[bold green]Veo API is running")
        for label, value in rows:
            console.print(Text.assemble((f"  {label:<10} ", "bold"), value))
        console.print(f"Demo API key: {self.api_key}", markup=False)
        console.print("\nTry it (then poll the returned uuid):", style="bold")
        console.print(curl_example(self.gateway, self.api_key), markup=False)
        console.print(
            f'curl -H "Authorization: Bearer {self.api_key}" '
            f"{self.gateway}/api/video-status/<uuid>",
            markup=False,
        )
        console.print("\nMore workers: make worker    Stop: Ctrl-C", style="dim")
        console.rule()


def curl_example(gateway: str, api_key: str) -> str:
    return (
        f"curl -X POST {gateway}/api/generate-video \\\n"
        f'  -H "Authorization: Bearer {api_key}" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        f'  -d \'{{"generationType": "text_to_video", "prompt": "{SAMPLE_PROMPT}", '
        '"aspectRatio": "16:9"}\''
    )


def wait_until_ready(banner: Banner, done: threading.Event) -> None:
    """Print the banner once the gateway and the simulator answer; warn if they never do."""
    checks = {
        "gateway": f"{banner.gateway}/api/health",
        "simulator": f"{banner.simulator}/_sim/health",
    }
    pending = dict(checks)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while pending and not done.is_set():
        pending = {name: url for name, url in pending.items() if not http_ok(url)}
        if pending and time.monotonic() > deadline:
            names = ", ".join(f"{name} ({url})" for name, url in pending.items())
            console.print(f"[red]not answering after {READY_TIMEOUT_S:.0f} s:[/red] {names}")
            return
        done.wait(0.25)
    if not done.is_set():
        banner.print()
