"""Live progress on stderr: a job's status, progress and ETA while waiting; bytes while
downloading. Silent with `--json` or when stderr is no terminal."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

from veo_client.cli.render import err, status_label
from veo_client.models import Video


def _show(quiet: bool) -> bool:
    return not quiet and err.is_terminal


@contextmanager
def job_progress(uuid: str, quiet: bool) -> Iterator[Any]:
    """Yields the `on_update` callback for VeoClient.wait()."""
    if not _show(quiet):
        yield None
        return
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[eta]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=False) as bar:
        task = bar.add_task(f"{uuid[:8]} waiting", total=100, eta="")

        def on_update(video: Video) -> None:
            eta = f"ETA {video.estimated_time} s" if video.estimated_time else ""
            description = f"{uuid[:8]} {status_label(video)}"
            bar.update(task, completed=video.progress, description=description, eta=eta)

        yield on_update


@contextmanager
def download_progress(name: str, quiet: bool) -> Iterator[Any]:
    """Yields the `progress` callback for VeoClient.download()."""
    if not _show(quiet):
        yield None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
    )
    with Progress(*columns, console=err) as bar:
        task = bar.add_task(name, total=None)

        def progress(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield progress
