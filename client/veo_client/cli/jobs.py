"""How `veo` follows a job and turns failures into messages and exit codes: shared by commands."""

import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import typer
from rich.markup import escape

from veo_client.cli import exit_codes, render
from veo_client.cli.progress import download_progress, job_progress
from veo_client.client import VeoClient
from veo_client.errors import VeoError, WaitTimeout
from veo_client.models import ReferenceImage, Video


@contextmanager
def handled(as_json: bool) -> Iterator[None]:
    """An API error becomes a message (or JSON) and its exit code, never a traceback."""
    try:
        yield
    except VeoError as exc:
        render.error(exc, as_json)
        raise typer.Exit(exit_codes.for_error(exc)) from None


def interrupted(command: str) -> typer.Exit:
    render.err.print(f"\nStopped; the job keeps running. Resume with: [bold]{command}[/bold]")
    return typer.Exit(exit_codes.INTERRUPTED)


def resume_command(uuid: str, out: Path | None) -> str:
    return f"veo wait {uuid}" + (f" --out {out}" if out else "")


def follow(
    client: VeoClient, uuid: str, timeout: float | None, out: Path | None, as_json: bool
) -> None:
    """Wait with a live progress bar, save the video if asked; exit 1 unless it completed."""
    try:
        with job_progress(uuid, as_json) as on_update:
            final = client.wait(uuid, timeout, on_update=on_update)
        saved = save(client, final, out, as_json) if out and final.status == "completed" else None
    except KeyboardInterrupt:
        raise interrupted(resume_command(uuid, out)) from None
    except WaitTimeout:
        render.err.print(f"The job keeps running; resume with: {resume_command(uuid, out)}")
        raise
    show(final, as_json, saved)
    if final.status != "completed":
        raise typer.Exit(exit_codes.JOB_UNSUCCESSFUL)


def save(client: VeoClient, video: Video, out: Path, as_json: bool) -> Path:
    with download_progress(out.name, as_json) as progress:
        return client.download(video.uuid, out, progress=progress)


def show(video: Video, as_json: bool, saved: Path | None = None) -> None:
    if as_json:
        document = video.to_api()
        if saved is not None:
            document["savedTo"] = str(saved)
        render.emit_json(document)
        return
    render.video(video)
    if saved is not None:
        render.out.print(f"[green]saved[/green] {saved}")


@contextmanager
def submitting(prompt: str, key: str) -> Iterator[None]:
    """Ctrl-C before the answer: whether the job exists is unknown, so say how to find out
    without risking a second one (the same Idempotency-Key answers with the same job)."""
    try:
        yield
    except KeyboardInterrupt:
        again = f"veo generate {shlex.quote(prompt)} --idempotency-key {key} ..."
        render.err.print(
            f"\nInterrupted while submitting. Re-run as {escape(again)}: never a second job."
        )
        raise typer.Exit(exit_codes.INTERRUPTED) from None


def references(client: VeoClient, assets: list[str], styles: list[str]) -> list[ReferenceImage]:
    """Each --reference/--style as the API wants it: URLs as they are, local files uploaded."""
    chosen: list[tuple[str, Literal["asset", "style"]]] = [(value, "asset") for value in assets]
    chosen += [(value, "style") for value in styles]
    result = []
    for value, kind in chosen:
        if value.startswith(("http://", "https://")):
            result.append(ReferenceImage(image_url=value, reference_type=kind))
        else:
            key = client.upload(value).image_key
            result.append(ReferenceImage(image_key=key, reference_type=kind))
    return result
