"""The simulator process: builds the Starlette app and serves it with uvicorn (`veo-simulator`).

Defaults come from the project settings (`VEO_SIMULATOR_*`, `VEO_DATA_DIR`); flags override
them. The control token comes from VEO_SIMULATOR_CONTROL_TOKEN only: a flag would show it in
the process list. It starts in well under a second (PyAV/Pillow load on first render) and
prints one line when listening: ``veo-simulator listening on http://HOST:PORT (...)``. With
``--port 0`` the line carries the port the OS picked.
"""

import argparse
import socket
import sys
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from simulator import control, protocol_gcs, protocol_gemini, protocol_vertex
from simulator.config import (
    LATENCY_MODELS,
    RENDER_MODES,
    VIDEO_SIZES,
    SimConfig,
    parse_model_list,
)
from simulator.core import Simulator
from simulator.google_errors import GoogleApiError
from simulator.oauth import DEFAULT_PROJECT_ID, write_service_account
from simulator.transport import protocol_class

KEEP_ALIVE_S = 75  # like Google's front end; uvicorn's 5 s default races pooled clients


async def _google_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GoogleApiError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and wrong methods, still in Google's error shape."""
    assert isinstance(exc, HTTPException)
    message = (
        "Method not allowed."
        if exc.status_code == 405
        else f"The requested URL {request.url.path} was not found."
    )
    return GoogleApiError(exc.status_code, message).response()


async def _internal_error(_request: Request, _exc: Exception) -> Response:
    return GoogleApiError(500).response()


def create_app(config: SimConfig, control_token: str = "") -> Starlette:
    """A fresh simulator (own registry, counters and media dir) as an ASGI app; its control
    endpoints answer requests carrying `control_token` (none if it is empty)."""
    app = Starlette(
        routes=[
            *protocol_gemini.routes,
            *protocol_vertex.routes,
            *protocol_gcs.routes,
            *control.routes,
        ],
        exception_handlers={
            GoogleApiError: _google_error,
            HTTPException: _http_error,
            Exception: _internal_error,
        },
    )
    app.state.sim = Simulator(config, control_token)
    return app


class _AnnouncingServer(uvicorn.Server):
    """Prints the one "listening" line once the socket is bound (tests and scripts wait on it)."""

    def __init__(self, config: uvicorn.Config, sim: Simulator) -> None:
        super().__init__(config)
        self.sim = sim

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.started:
            return
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        c = self.sim.config
        print(
            f"veo-simulator listening on http://{host}:{port} "
            f"(latency {_latency(c)}, video {c.video_size}, "
            f"push {c.push_url or 'off'}, fault rate {c.fault_rate:g}, "
            f"render {c.render}, data {c.data_dir})",
            flush=True,
        )

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Remove this process's media dir here: uvicorn re-raises SIGTERM right after."""
        await super().shutdown(sockets)
        self.sim.media.close()


def _latency(c: SimConfig) -> str:
    return "veo distribution" if c.latency_model == "veo" else f"{c.latency_s:g}+/-{c.jitter_s:g} s"


def build_parser() -> argparse.ArgumentParser:
    from shared.settings import get_settings

    s = get_settings()
    parser = argparse.ArgumentParser(
        prog="veo-simulator",
        description="Google Veo 3.1 simulator speaking the Gemini API and Vertex AI protocols.",
    )
    parser.add_argument("--host", default=s.simulator_host)
    parser.add_argument("--port", type=int, default=s.simulator_port, help="0 picks a free port")
    parser.add_argument(
        "--latency", type=float, default=s.simulator_default_latency_s, help="seconds per job"
    )
    parser.add_argument(
        "--jitter", type=float, default=s.simulator_latency_jitter_s, help="+/- seconds"
    )
    parser.add_argument(
        "--fault-rate", type=float, default=s.simulator_fault_rate, help="0..1 random faults"
    )
    parser.add_argument("--render", choices=sorted(RENDER_MODES), default=s.simulator_render)
    parser.add_argument(
        "--retired-models", default=s.simulator_retired_models, help="comma-separated ids"
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="reproducible jitter and random faults"
    )
    parser.add_argument(
        "--slow", type=float, default=2.0, help="delay of a random slow-answer fault"
    )
    parser.add_argument("--retry-after", type=int, default=1, help="Retry-After seconds on 429s")
    parser.add_argument(
        "--latency-model",
        choices=sorted(LATENCY_MODELS),
        default=s.simulator_latency_model,
        help="fixed: --latency +/- --jitter; veo: Veo 3.1's distribution",
    )
    parser.add_argument(
        "--video-size",
        choices=sorted(VIDEO_SIZES),
        default=s.simulator_video_size,
        help="real: MP4s padded to Veo's sizes; small: as rendered",
    )
    parser.add_argument(
        "--push-url", default=s.simulator_push_url, help="Pub/Sub-style push endpoint"
    )
    parser.add_argument(
        "--push-audience", default=s.push_audience, help="push token audience (default: URL)"
    )
    parser.add_argument("--data-dir", type=Path, default=s.data_dir)
    parser.add_argument(
        "--write-service-account",
        type=Path,
        metavar="PATH",
        help="write a service-account JSON whose token_uri is http://HOST:PORT/token, then exit",
    )
    parser.add_argument(
        "--project", default=DEFAULT_PROJECT_ID, help="project_id of a written service account"
    )
    return parser


def config_from_args(args: argparse.Namespace) -> SimConfig:
    config = SimConfig(data_dir=args.data_dir)
    config.update(
        {
            "latency_s": args.latency,
            "jitter_s": args.jitter,
            "fault_rate": args.fault_rate,
            "render": args.render,
            "retired_models": parse_model_list(args.retired_models),
            "seed": args.seed,
            "slow_s": args.slow,
            "retry_after_s": args.retry_after,
            "latency_model": args.latency_model,
            "video_size": args.video_size,
            "push_url": args.push_url,
            "push_audience": args.push_audience,
        }
    )
    return config


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.write_service_account is not None:
        host = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host  # noqa: S104
        info = write_service_account(
            args.write_service_account,
            simulator_url=f"http://{host}:{args.port}",
            data_dir=args.data_dir,
            project_id=args.project,
        )
        print(
            f"service account {info['client_email']} written to {args.write_service_account}",
            flush=True,
        )
        return
    try:
        config = config_from_args(args)
    except ValueError as exc:
        sys.exit(f"veo-simulator: {exc}")
    from shared.settings import get_settings

    app = create_app(config, get_settings().simulator_control_token.get_secret_value())
    server_config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        http=protocol_class(),
        timeout_keep_alive=KEEP_ALIVE_S,
    )
    _AnnouncingServer(server_config, app.state.sim).run()


if __name__ == "__main__":
    main()
