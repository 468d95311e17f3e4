"""`veo-admin check-upstream`: is the configured backend, key and model usable, before going live?

Read-only and unbilled: it loads the credentials (a Vertex token is refreshed, which proves the
service account or ADC works), and reads the model's metadata (Gemini `models.get`, Vertex
Model Garden `publishers.models.get`). It starts no generation: neither surface has a dry run
of `predictLongRunning`, so whether this project may call the model, and what it will be
billed, shows only on the first real submit (docs/operations.md says how to make that one
cheap).

Exit codes: 0 usable; 1 the configuration is wrong (key, credentials, project, model id), fix
it; 2 the upstream could not be reached or answered an error, so nothing is proven either way.
"""

import asyncio
from dataclasses import asdict, dataclass, field
from typing import Any

import typer

from admin.output import JsonFlag, report
from shared.errors import UpstreamConfigError, UpstreamError
from shared.settings import Settings, get_settings
from worker.upstream import build_upstream
from worker.upstream.base import Upstream
from worker.upstream.gemini import GeminiUpstream
from worker.upstream.vertex import VertexUpstream

EXIT_OK, EXIT_CONFIG, EXIT_UNREACHABLE = 0, 1, 2
PREVIEW_NOTE = (
    "a preview id, which Google retires on its own schedule; for production use Vertex AI"
    " with veo-3.1-generate-001"
)


@dataclass
class Check:
    """One line of the report: what was checked, whether it passed, and in what words."""

    name: str
    ok: bool
    detail: str


@dataclass
class Findings:
    backend: str
    protocol: str
    model: str
    endpoint: str
    checks: list[Check] = field(default_factory=list)
    exit_code: int = EXIT_OK

    def failed(self, name: str, error: UpstreamError) -> None:
        self.checks.append(Check(name, False, error.message))
        config = isinstance(error, UpstreamConfigError)
        self.exit_code = max(self.exit_code, EXIT_CONFIG if config else EXIT_UNREACHABLE)


def _describe(settings: Settings, upstream: Upstream) -> Findings:
    protocol = "vertex" if isinstance(upstream, VertexUpstream) else "gemini"
    endpoint = upstream.base_url if isinstance(upstream, VertexUpstream | GeminiUpstream) else ""
    model = upstream.video.model if isinstance(upstream, VertexUpstream | GeminiUpstream) else ""
    return Findings(settings.upstream_backend, protocol, model, endpoint)


async def _credentials(upstream: Upstream) -> str:
    """Load (and for Vertex, refresh) the credentials: what they are, in words without secrets."""
    if isinstance(upstream, VertexUpstream):
        return await upstream.describe_credentials()
    if isinstance(upstream, GeminiUpstream):
        upstream.check_key()
        return "an API key is set (x-goog-api-key)"
    return "no credentials to check"


async def _run(settings: Settings) -> Findings:
    upstream = build_upstream(settings)
    findings = _describe(settings, upstream)
    try:
        try:
            findings.checks.append(Check("credentials", True, await _credentials(upstream)))
        except UpstreamError as exc:
            findings.failed("credentials", exc)
            return findings
        try:
            await upstream.check_model()
            findings.checks.append(
                Check("model", True, f"{findings.model} is known to the upstream")
            )
            if findings.model.endswith("-preview"):
                findings.checks.append(Check("model", True, PREVIEW_NOTE))
        except UpstreamError as exc:
            findings.failed("model", exc)
    finally:
        await upstream.aclose()
    return findings


def _text(findings: Findings) -> str:
    lines = [
        f"backend {findings.backend} (protocol {findings.protocol}), model {findings.model}",
        f"endpoint {findings.endpoint}",
    ]
    for check in findings.checks:
        mark = "[green]ok[/green]  " if check.ok else "[red]FAIL[/red]"
        lines.append(f"{mark} {check.name}: {check.detail}")
    verdict = {
        EXIT_OK: "[green]usable[/green]: nothing was billed (no generation was started)",
        EXIT_CONFIG: "[red]not usable[/red]: fix the configuration above, then check again",
        EXIT_UNREACHABLE: "[yellow]unproven[/yellow]: the upstream did not answer; try again",
    }[findings.exit_code]
    lines.append(verdict)
    return "\n".join(lines)


def check_upstream(as_json: JsonFlag = False) -> None:
    """Check the configured upstream backend, credentials and model (read-only, unbilled)."""
    findings = asyncio.run(_run(get_settings()))
    document: dict[str, Any] = asdict(findings) | {"ok": findings.exit_code == EXIT_OK}
    report(as_json, document, _text(findings))
    raise typer.Exit(code=findings.exit_code)
