"""What `veo-admin` prints: text for people, one JSON document with `--json`, errors in red, and
a loud warning on stderr when the gateways' key cache (in Redis) could not be told of a change."""

import json
from typing import Annotated, NoReturn

import typer
from rich.console import Console, RenderableType

from shared.settings import RedisUrlOrigin, get_settings, without_password

console = Console()
err_console = Console(stderr=True, soft_wrap=True, highlight=False)  # greppable lines

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of text")]

# The database is changed, but the gateways' key cache could not be told: the change reaches
# every gateway only when the cached entries expire. Distinct from 1 (nothing was changed).
EXIT_CACHE_NOT_TOLD = 3


def fail(message: str) -> NoReturn:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code=1)


def report(as_json: bool, document: object, text: RenderableType) -> None:
    """With `--json`, the document on one line, for scripts; otherwise the text, for people."""
    if as_json:
        typer.echo(json.dumps(document))
    else:
        console.print(text)


def note_guessed_redis() -> None:
    """Say which Redis the key cache was told at when nothing said where the stack's Redis is:
    gateways on another Redis keep their cached keys."""
    settings = get_settings()
    if settings.redis_url_origin is RedisUrlOrigin.EMBEDDED:
        err_console.print(
            f"note: told the key cache at {without_password(settings.redis_url)}, the default;"
            " if the gateways use another Redis, set VEO_REDIS_URL to it and run this again",
            style="yellow",
        )


def warn_cache_not_told(consequence: str) -> None:
    """Loudly, on stderr: the database changed but Redis did not answer."""
    settings = get_settings()
    err_console.print(
        f"[bold red]WARNING: Redis at {without_password(settings.redis_url)} did not answer, so"
        f" the gateways' key cache was not told: {consequence}.[/bold red]\n"
        f"That Redis address comes from {settings.redis_url_origin}; if the gateways use"
        " another Redis, set VEO_REDIS_URL to it."
    )


def cache_not_told(consequence: str) -> NoReturn:
    """warn_cache_not_told, then exit with EXIT_CACHE_NOT_TOLD."""
    warn_cache_not_told(consequence)
    raise typer.Exit(code=EXIT_CACHE_NOT_TOLD)
