"""What `veo` prints: tables for people on stdout, one JSON document with `--json` for scripts.
Progress and hints go to stderr, so stdout stays the answer alone."""

import json
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from veo_client.errors import VeoError
from veo_client.models import Account, ApiModel, LedgerEntry, Page, Video

out = Console(highlight=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)  # commands to copy stay one line

STATUS_STYLE = {
    "pending": "yellow",
    "processing": "cyan",
    "completed": "green",
    "failed": "red",
    "cancelled": "magenta",
}


def emit_json(value: Any) -> None:
    if isinstance(value, ApiModel):
        value = value.to_api()
    if out.is_terminal:
        out.print_json(json.dumps(value))
    else:
        print(json.dumps(value))


def error(exc: VeoError, as_json: bool) -> None:
    if as_json:
        emit_json({"error": {"code": exc.code, "msg": exc.msg, "data": exc.data}})
        return
    code = f" ({exc.code})" if exc.code is not None else ""
    err.print(f"[red]error{code}:[/red] {escape(exc.msg)}")


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


def status_label(video: Video) -> str:
    style = STATUS_STYLE.get(video.status, "white")
    label = f"[{style}]{video.status}[/{style}]"
    if video.status == "pending" and video.queue_position is not None:
        label += f" (queue position {video.queue_position})"
    return label


def video(item: Video) -> None:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    rows: list[tuple[str, Any]] = [
        ("uuid", item.uuid),
        ("status", status_label(item)),
        ("progress", f"{item.progress}%"),
        (
            "eta",
            f"{item.estimated_time} s" if item.estimated_time and not item.is_terminal else None,
        ),
        ("prompt", item.prompt),
        ("model", item.model),
        ("aspect ratio", item.aspect_ratio),
        ("duration", f"{item.duration_seconds} s" if item.duration_seconds else None),
        ("resolution", item.resolution),
        ("samples", item.sample_count),
        ("credits", item.credits),
        ("created", when(item.created_at)),
        ("started", when(item.started_at)),
        ("completed", when(item.completed_at)),
        ("expires", when(item.expires_at)),
        ("error", item.error),
    ]
    rows += [("video", url) for url in item.urls]
    for name, value in rows:
        if value not in (None, ""):
            table.add_row(name, value if name == "status" else escape(str(value)))
    out.print(table)


def videos(page: Page[Video]) -> None:
    table = Table("uuid", "status", "created", "model", "prompt")
    for item in page.items:
        prompt = escape((item.prompt or "")[:48])
        table.add_row(item.uuid, status_label(item), when(item.created_at), item.model, prompt)
    out.print(table)


def account(info: Account) -> None:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("account", info.account_id)
    if info.name:
        table.add_row("name", escape(info.name))
    table.add_row("credits", str(info.credits))
    if info.usage:
        usage = f"{info.usage.jobs} jobs, {info.usage.credits_spent} credits"
        table.add_row(f"usage {info.usage.month}", usage)
    limits = info.rate_limits
    for name, budget in (("write", limits and limits.write), ("read", limits and limits.read)):
        if budget:
            left = f"{budget.remaining}/{budget.limit} left, resets in {budget.reset_seconds} s"
            table.add_row(f"{name} limit", left)
    table.add_row("webhook", info.webhook_url or "none")
    out.print(table)


def ledger(page: Page[LedgerEntry]) -> None:
    table = Table("when", "kind", "amount", "job")
    for entry in page.items:
        table.add_row(when(entry.created_at), entry.kind, str(entry.amount), entry.job_id or "")
    out.print(table)
