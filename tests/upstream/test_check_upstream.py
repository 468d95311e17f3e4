"""`veo-admin check-upstream` against the simulator: read-only and unbilled (no submit reaches
the upstream), with an exit code and words that say what to fix."""

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from admin.cli import app as admin_cli
from devtools.processes import free_port
from tests.support.environment import reset_caches
from tests.upstream.conftest import RETIRED_MODEL, Sim

Configure = Callable[..., Result]


@pytest.fixture
def check(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Configure]:
    """Factory: run `veo-admin check-upstream --json` with these VEO_* settings."""

    def run(*, text: bool = False, **values: str) -> Result:
        for name, value in {"data_dir": str(tmp_path), **values}.items():
            monkeypatch.setenv(f"VEO_{name.upper()}", value)
        reset_caches()
        return CliRunner().invoke(
            admin_cli, ["check-upstream"] if text else ["check-upstream", "--json"]
        )

    yield run
    reset_caches()


def _vertex(sim: Sim, tmp_path: Path, **values: str) -> dict[str, str]:
    return {
        "upstream_backend": "vertex",
        "vertex_base_url": sim.url,
        "vertex_project": "proj-check",
        "vertex_credentials_file": str(sim.service_account(tmp_path / "sa.json")),
        **values,
    }


def _submits(sim: Sim) -> int:
    calls = sim.stats()["calls"]
    return int(calls.get("vertex.submit", 0)) + int(calls.get("gemini.submit", 0))


def test_a_working_vertex_setup_passes_without_a_billed_call(
    sim: Sim, tmp_path: Path, check: Configure
) -> None:
    before = _submits(sim)
    result = check(**_vertex(sim, tmp_path, model="veo-3.1-generate-001"))
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] is True
    assert (report["protocol"], report["model"]) == ("vertex", "veo-3.1-generate-001")
    assert [(c["name"], c["ok"]) for c in report["checks"]] == [
        ("credentials", True),
        ("model", True),
    ]
    assert "token refreshed" in report["checks"][0]["detail"]
    assert "proj-check" in report["checks"][0]["detail"]
    assert _submits(sim) == before  # nothing billed


def test_a_retired_model_is_a_configuration_error(
    sim: Sim, tmp_path: Path, check: Configure
) -> None:
    result = check(
        upstream_backend="gemini", gemini_base_url=sim.url, gemini_api_key="simulator",
        model=RETIRED_MODEL,
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert report["checks"][-1]["name"] == "model"
    assert not report["checks"][-1]["ok"]
    assert RETIRED_MODEL in report["checks"][-1]["detail"]


def test_a_missing_key_is_a_configuration_error_before_any_call(sim: Sim, check: Configure) -> None:
    result = check(upstream_backend="gemini", gemini_base_url=sim.url, gemini_api_key="")
    assert result.exit_code == 1, result.output
    (credentials,) = json.loads(result.output)["checks"]
    assert credentials["name"] == "credentials"
    assert "VEO_GEMINI_API_KEY" in credentials["detail"]


def test_unusable_vertex_credentials_are_a_configuration_error(
    sim: Sim, tmp_path: Path, check: Configure
) -> None:
    missing = str(tmp_path / "no-such-file.json")
    result = check(**_vertex(sim, tmp_path, vertex_credentials_file=missing))
    assert result.exit_code == 1, result.output
    (credentials,) = json.loads(result.output)["checks"]
    assert not credentials["ok"]
    assert "cannot load Vertex credentials" in credentials["detail"]


def test_an_unreachable_upstream_proves_nothing_and_says_so(
    sim: Sim, tmp_path: Path, check: Configure
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    result = check(**_vertex(sim, tmp_path, vertex_base_url=nowhere))
    assert result.exit_code == 2, result.output
    assert json.loads(result.output)["ok"] is False


def test_the_text_report_names_the_verdict(sim: Sim, tmp_path: Path, check: Configure) -> None:
    result = check(text=True, **_vertex(sim, tmp_path))
    assert result.exit_code == 0, result.output
    assert "usable" in result.output
    assert "nothing was billed" in result.output


def test_a_preview_model_passes_with_a_note(sim: Sim, check: Configure) -> None:
    """A live preview id works today; the note says what to use for production."""
    result = check(
        upstream_backend="gemini", gemini_base_url=sim.url, gemini_api_key="simulator",
        model="veo-3.1-lab-preview",  # not one of the ids the simulator may call retired
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    notes = [c["detail"] for c in json.loads(result.output)["checks"]]
    assert any("veo-3.1-generate-001" in note for note in notes)
