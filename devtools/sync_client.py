"""The SDK's sync client, generated from its async one (client/veo_client/async_client.py) with
unasync, the tool httpcore generates its own sync code with: one source, two clients that
cannot drift apart."""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import unasync

PACKAGE = Path(__file__).resolve().parent.parent / "client" / "veo_client"
SOURCE = PACKAGE / "async_client.py"
TARGET = PACKAGE / "client.py"

# Beyond unasync's own (async/await dropped, __aenter__ -> __enter__, AsyncIterator -> ...).
REPLACEMENTS = {
    "AsyncVeoClient": "VeoClient",
    "AsyncPager": "Pager",
    "AsyncClient": "Client",
    "AsyncBaseTransport": "BaseTransport",
    "aclose": "close",
    "aread": "read",
    "aiter_bytes": "iter_bytes",
    "aiter_lines": "iter_lines",
    "_async_io": "_sync_io",
}
DOCSTRING = '''"""`VeoClient`: the API from synchronous code (scripts, the `veo` command).

Generated from async_client.py by `veo-dev sync-client`: edit that file, then run it."""
'''


def generated() -> str:
    """client.py as it follows from async_client.py today (formatted as the repository is)."""
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "_async" / "client.py"
        source.parent.mkdir()
        shutil.copyfile(SOURCE, source)
        rule = unasync.Rule("/_async/", "/_sync/", additional_replacements=REPLACEMENTS)
        unasync.unasync_files([str(source)], [rule])
        text = (Path(scratch) / "_sync" / "client.py").read_text()
    text = DOCSTRING + text[text.index('"""', 3) + 3 :].lstrip("\n").join(["\n", ""])
    return _formatted(text)


def _formatted(text: str) -> str:
    """Imports sorted (the renamed ones move) and formatted, by the venv's ruff."""
    for command in (["check", "--select", "I", "--fix", "--exit-zero", "--quiet"], ["format"]):
        text = _ruff(*command, "--stdin-filename", str(TARGET), "-", text=text)
    return text


def _ruff(*args: str, text: str) -> str:
    ruff = Path(sys.executable).with_name("ruff")
    return subprocess.run(  # noqa: S603 - the venv's ruff on our own text, no shell
        [str(ruff), *args], input=text, capture_output=True, text=True, check=True
    ).stdout
