"""`veo-admin` as an operator runs it: its own process, with the environment given."""

import subprocess

from devtools.processes import VENV_BIN


def veo_admin(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "veo-admin"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
