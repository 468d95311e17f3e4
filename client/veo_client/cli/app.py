"""`veo`: generate videos, follow them, and fetch them from a terminal or a script.

Every command takes `--json` (one JSON document on stdout) and exits with the codes of
veo_client/cli/exit_codes.py."""

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from veo_client import __version__
from veo_client._core import new_idempotency_key
from veo_client.cli import render
from veo_client.cli.jobs import follow, handled, interrupted, references, show, submitting
from veo_client.cli.progress import download_progress
from veo_client.client import VeoClient
from veo_client.models import Page, Video

app = typer.Typer(
    help="Generate videos with the Veo 3.1 API. Reads VEO_API_KEY and VEO_BASE_URL.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document (for scripts).")]
OutOpt = Annotated[Path | None, typer.Option("--out", "-o", help="Save the video here.")]
TimeoutOpt = Annotated[
    float | None, typer.Option("--timeout", help="Stop waiting after this many seconds.")
]


class Aspect(StrEnum):
    auto = "auto"
    landscape = "16:9"
    portrait = "9:16"


class Model(StrEnum):
    standard = "veo-3.1"
    fast = "veo-3.1-fast"


class Resolution(StrEnum):
    hd = "720p"
    full_hd = "1080p"
    uhd = "4k"


@dataclass(frozen=True)
class Settings:
    api_key: str | None
    base_url: str | None


def make_client(ctx: typer.Context) -> VeoClient:
    settings: Settings = ctx.obj
    return VeoClient(settings.api_key, settings.base_url)


def version(value: bool) -> None:
    if value:
        render.out.print(f"veo {__version__}")
        raise typer.Exit


@app.callback()
def main(
    ctx: typer.Context,
    api_key: Annotated[
        str | None, typer.Option(envvar="VEO_API_KEY", help="API key.", show_default=False)
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(envvar="VEO_BASE_URL", help="Gateway URL (default http://127.0.0.1:8000)."),
    ] = None,
    _version: Annotated[
        bool, typer.Option("--version", callback=version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    ctx.obj = Settings(api_key, base_url)


@app.command()
def generate(  # noqa: PLR0917 - typer reads the options from the signature
    ctx: typer.Context,
    prompt: Annotated[str, typer.Argument(help="What the video shows.")],
    image: Annotated[
        str | None, typer.Option("--image", "-i", help="First frame: a local file or a URL.")
    ] = None,
    last_frame: Annotated[
        str | None, typer.Option("--last-frame", help="Last frame: a local file or a URL.")
    ] = None,
    reference: Annotated[
        list[str] | None, typer.Option("--reference", help="Asset reference image (up to 3).")
    ] = None,
    style: Annotated[
        list[str] | None, typer.Option("--style", help="Style reference image.")
    ] = None,
    aspect: Annotated[Aspect | None, typer.Option("--aspect", "-a")] = None,
    model: Annotated[Model | None, typer.Option("--model", "-m")] = None,
    duration: Annotated[int | None, typer.Option("--duration", "-d", help="4, 6 or 8 s.")] = None,
    resolution: Annotated[Resolution | None, typer.Option("--resolution", "-r")] = None,
    negative_prompt: Annotated[
        str | None, typer.Option("--negative-prompt", help="What the video must not show.")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", min=0, max=4294967295)] = None,
    audio: Annotated[
        bool | None, typer.Option("--audio/--no-audio", help="Generate sound.", show_default=False)
    ] = None,
    samples: Annotated[int | None, typer.Option("--samples", "-n", min=1, max=4)] = None,
    webhook_url: Annotated[str | None, typer.Option("--webhook-url")] = None,
    idempotency_key: Annotated[
        str | None, typer.Option("--idempotency-key", help="Repeat-safe submit key.")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", "-w", help="Wait until it is done.")] = False,
    out: OutOpt = None,
    timeout: TimeoutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Submit a video (local images are uploaded first); with --wait or --out, follow it."""
    key = idempotency_key or new_idempotency_key()
    with handled(as_json), make_client(ctx) as client:
        with submitting(prompt, key):
            video = client.generate(
                prompt,
                image=image,
                last_frame=last_frame,
                idempotency_key=key,
                aspect_ratio=aspect.value if aspect else None,
                model=model.value if model else None,
                duration_seconds=duration,
                resolution=resolution.value if resolution else None,
                negative_prompt=negative_prompt,
                seed=seed,
                generate_audio=audio,
                sample_count=samples,
                reference_images=references(client, reference or [], style or []) or None,
                webhook_url=webhook_url,
            )
        if not (wait or out):
            show(video, as_json)
            return
        if not as_json:
            cost = f" ({video.credits} credits)" if video.credits is not None else ""
            render.err.print(f"submitted [bold]{video.uuid}[/bold]{cost}")
        follow(client, video.uuid, timeout, out, as_json)


@app.command()
def status(ctx: typer.Context, uuid: str, as_json: JsonOpt = False) -> None:
    """Show a video's status."""
    with handled(as_json), make_client(ctx) as client:
        show(client.status(uuid), as_json)


@app.command("wait")
def wait_command(
    ctx: typer.Context,
    uuid: str,
    out: OutOpt = None,
    timeout: TimeoutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Wait until a video is done (exit 0 only when it completed); --out saves it."""
    with handled(as_json), make_client(ctx) as client:
        follow(client, uuid, timeout, out, as_json)


@app.command("list")
def list_command(  # noqa: PLR0917 - typer reads the options from the signature
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option("--status", "-s", help="Only this status.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Created after (ISO-8601).")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Created before (ISO-8601).")] = None,
    limit: Annotated[int, typer.Option("--limit", "-l", min=1, max=100)] = 20,
    cursor: Annotated[str | None, typer.Option("--cursor", help="Page to start at.")] = None,
    every: Annotated[bool, typer.Option("--all", help="Every page, not just one.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Your videos, newest first."""
    with handled(as_json), make_client(ctx) as client:
        pager = client.list(
            status=status, created_after=since, created_before=until, limit=limit, cursor=cursor
        )
        page = Page[Video](items=list(pager), next_cursor=None) if every else pager.first_page()
    if as_json:
        render.emit_json(page)
        return
    render.videos(page)
    if page.next_cursor:
        render.err.print(f"more: veo list --limit {limit} --cursor {page.next_cursor}")


@app.command()
def cancel(ctx: typer.Context, uuid: str, as_json: JsonOpt = False) -> None:
    """Cancel a pending or processing video (refunded as docs/api.md says)."""
    with handled(as_json), make_client(ctx) as client:
        show(client.cancel(uuid), as_json)


@app.command()
def delete(ctx: typer.Context, uuid: str, as_json: JsonOpt = False) -> None:
    """Delete a video's files and prompt (the ledger keeps its charge)."""
    with handled(as_json), make_client(ctx) as client:
        deleted = client.delete(uuid)
    if as_json:
        render.emit_json(deleted)
    else:
        render.out.print(f"deleted {deleted.uuid}")


@app.command()
def download(
    ctx: typer.Context,
    uuid_or_url: Annotated[str, typer.Argument(help="A completed video's uuid, or a file URL.")],
    out: OutOpt = None,
    sample: Annotated[int, typer.Option("--sample", help="Which sample (from 0).")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Save a completed video."""
    with handled(as_json), make_client(ctx) as client:
        name = out.name if out else uuid_or_url.rsplit("/", 1)[-1].split("?")[0]
        try:
            with download_progress(name, as_json) as progress:
                saved = client.download(uuid_or_url, out, progress=progress, sample=sample)
        except KeyboardInterrupt:
            raise interrupted(f"veo download {uuid_or_url}") from None
    if as_json:
        render.emit_json({"savedTo": str(saved), "bytes": saved.stat().st_size})
    else:
        render.out.print(f"[green]saved[/green] {saved}")


@app.command()
def upload(ctx: typer.Context, path: Path, as_json: JsonOpt = False) -> None:
    """Upload an image; its imageKey can be passed to generate-video."""
    with handled(as_json), make_client(ctx) as client:
        uploaded = client.upload(path)
    if as_json:
        render.emit_json(uploaded)
    else:
        render.out.print(f"imageKey {uploaded.image_key}\nimageUrl {uploaded.image_url}")


@app.command()
def account(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Credits, rate limits and this month's usage."""
    with handled(as_json), make_client(ctx) as client:
        info = client.account()
    if as_json:
        render.emit_json(info)
    else:
        render.account(info)


@app.command()
def ledger(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", "-l", min=1, max=100)] = 20,
    cursor: Annotated[str | None, typer.Option("--cursor")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Credit movements (debits, refunds, grants), newest first."""
    with handled(as_json), make_client(ctx) as client:
        page = client.ledger(limit=limit, cursor=cursor).first_page()
    if as_json:
        render.emit_json(page)
        return
    render.ledger(page)
    if page.next_cursor:
        render.err.print(f"more: veo ledger --limit {limit} --cursor {page.next_cursor}")
