"""The `veo` command. Its dependencies (typer, rich) come with `pip install 'veo-client[cli]'`."""

import sys


def main() -> None:
    try:
        from veo_client.cli.app import app
    except ImportError as exc:
        sys.stderr.write(f"veo: {exc.name} is missing; install: pip install 'veo-client[cli]'\n")
        raise SystemExit(2) from exc
    app()
