"""docs/configuration.md's tables, generated from the one settings object so they stay true.

A field's meaning is the comment beside it in shared/settings.py, else its line in MEANINGS.
"""

import ast
import io
import re
import tokenize
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pydantic.fields import FieldInfo

from shared import settings as settings_module
from shared.settings import MIB, Settings

TABLE_BEGIN = "<!-- BEGIN settings-table (veo-dev settings-table --write docs/configuration.md) -->"
TABLE_END = "<!-- END settings-table -->"
SECTION_RE = re.compile(r"#\s*---\s*(?P<name>[^-].*?)\s*-{3,}")

MEANINGS: dict[str, str] = {
    "environment": "`production` refuses loopback/private webhook and image URLs by default",
    "data_dir": "Where local state lives: SQLite file, stored videos, embedded Redis, demo key",
    "database_url": "SQLAlchemy URL of the database of record "
    "(`postgresql+psycopg://user:pass@host/db` for PostgreSQL)",
    "db_pool_size": "Connections per process on PostgreSQL (as many again may overflow)",
    "db_connect_timeout_s": "A PostgreSQL connection attempt gives up after this (whole s, >= 2)",
    "db_dead_connection_s": "A PostgreSQL connection whose data or keepalives go unacknowledged "
    "this long is dropped (a partition fails the statement instead of hanging)",
    "redis_url": "Celery broker, quota store and key cache",
    "redis_key_prefix": "Prefix of every Redis key and Celery queue, so stacks can share a Redis",
    "redis_socket_timeout_s": "Redis connect timeout; a dead Redis fails a publish this fast",
    "gateway_host": "Address the gateway listens on (0.0.0.0 in a container)",
    "gateway_port": "Port the gateway listens on",
    "public_base_url": "Base of the URLs the API hands out (video links)",
    "default_rate_limit_per_minute": "Write requests per minute per API key, for accounts "
    "without their own limit",
    "default_read_rate_limit_per_minute": "Read requests per minute per API key, for accounts "
    "without their own limit",
    "prompt_max_chars": "Longest prompt accepted",
    "upload_max_bytes": "Largest file accepted by /api/upload-video-image",
    "image_max_pixels": "Largest image accepted, in pixels (decompression-bomb guard)",
    "image_url_max_bytes": "Largest image downloaded from an imageUrl",
    "upstream_backend": "Which Veo to call",
    "simulator_protocol": "Which real protocol the simulator speaks",
    "simulator_host": "Address the simulator listens on",
    "simulator_port": "Port the simulator listens on",
    "simulator_url": "Where the workers reach the simulator",
    "simulator_default_latency_s": "Simulated generation time",
    "simulator_latency_jitter_s": "Random spread around the simulated generation time",
    "simulator_render": "How the simulator makes its MP4s",
    "simulator_retired_models": "Model ids the simulator treats as retired",
    "gemini_base_url": "Gemini API endpoint",
    "gemini_api_key": "Gemini API key (`upstream_backend=gemini`)",
    "vertex_base_url": "Vertex AI endpoint",
    "vertex_project": "Google Cloud project for Vertex AI",
    "vertex_location": "Vertex AI region",
    "vertex_credentials_file": "Path of the credentials for Vertex AI",
    "vertex_output_gcs_uri": "Cloud Storage prefix (`gs://…`) where Vertex AI writes videos",
    "vertex_token_url": "OAuth token endpoint for the service account",
    "gcs_base_url": "Cloud Storage endpoint used to fetch Vertex outputs",
    "model": "Veo model id",
    "resolution": "Video resolution requested upstream (1080p and 4k need 8 s)",
    "duration_s": "Video length requested upstream, in seconds",
    "negative_prompt": "Negative prompt sent with every request (empty: none)",
    "generate_audio": "Whether videos have audio, for jobs that do not choose",
    "upstream_connect_timeout_s": "Connect timeout of every upstream call",
    "upstream_timeout_s": "Read/write timeout of every upstream call",
    "video_max_bytes": "Largest video downloaded from upstream",
    "upstream_image_max_bytes": "Largest image sent upstream (bigger ones are downscaled)",
    "upstream_submits_per_minute": "Global upstream submit quota, shared by all workers",
    "unknown_submit_policy": "What a submit of unknown outcome does",
    "upstream_polls_per_second": "Global upstream poll quota, shared by all workers",
    "upstream_max_in_flight": "Most jobs generating upstream at once, across all workers",
    "poll_first_delay_s": "Wait after submitting before the first status poll",
    "poll_max_interval_s": "Cap of the poll backoff",
    "poll_backoff_factor": "Growth of the poll interval per poll (the geometric schedule; the "
    "predictive one spends as many polls as this series would)",
    "poll_min_interval_s": "Shortest wait between two polls of one operation (predictive schedule)",
    "poll_schedule": "`predictive`: polls dense where recent jobs of the kind finished, sparse "
    "elsewhere, for as many polls per job as `geometric` (first delay, x factor, capped) spends",
    "pubsub_topic": "Pub/Sub topic Vertex AI publishes each operation's progress to "
    "(`projects/P/topics/T`; sent as `pubsubTopic`). Empty: none",
    "push_notifications": "Accept Pub/Sub pushes at `/api/upstream/notifications`; each makes "
    "the named operation's job due for a poll at once",
    "push_audience": "Audience the push's OIDC token must carry. "
    "Empty: `{public_base_url}/api/upstream/notifications`",
    "push_service_account": "Service account the push subscription authenticates as. "
    "Empty: any Google-signed token",
    "push_certs_url": "Where Google's OIDC signing certificates are fetched (cached)",
    "poll_tick_s": (
        "How often beat asks a worker to poll the due jobs; a tick takes those due by the middle"
        " of the next one, so a poll lands within half a tick of its due time"
    ),
    "poll_batch_size": "Most jobs claimed per poll tick",
    "poll_concurrency": "Most concurrent upstream polls within one tick",
    "poll_claim_s": "How long a claimed job is hidden from other pollers",
    "job_deadline_s": "A job still unfinished this long after submit fails (and is refunded)",
    "submit_max_attempts": "Submit attempts before a job fails (and is refunded)",
    "submit_retry_delay_s": "Base delay of the submit retry backoff",
    "submit_batch_max": (
        "Most text jobs admitted together that share one submit message; a worker slot submits them"
        " one after another (1: a message per job, which spreads a burst over more slots)"
    ),
    "sweep_interval_s": "How often the sweeper re-sends what should be moving",
    "sweep_stale_after_s": "Quiet time after which the sweeper re-sends a job or delivery",
    "worker_concurrency": "Processes per worker (`-c`)",
    "webhook_connect_timeout_s": "Connect timeout of a webhook delivery",
    "webhook_timeout_s": "Read/write timeout of a webhook delivery",
    "webhook_endpoint_disable_after_s": "An endpoint failing for this long is disabled",
    "webhook_secret_grace_s": "How long a rotated webhook secret still signs deliveries",
    "webhook_claim_s": "How long a claimed delivery is hidden from other workers",
    "storage_backend": "Where finished videos and uploads are stored",
    "storage_dir": "Directory of the local storage backend",
    "s3_bucket": "S3 bucket (`storage_backend=s3`)",
    "s3_endpoint_url": "S3-compatible endpoint (MinIO, R2); empty: AWS",
    "s3_region": "S3 region",
    "s3_access_key_id": "S3 access key; empty: the default AWS credential chain",
    "s3_secret_access_key": "S3 secret key",
    "s3_url_expiry_s": "Lifetime of the presigned video URLs",
    "flower_port": "Port Flower listens on",
    "flower_user": "Flower basic-auth user",
    "flower_password": "Flower basic-auth password",
    "log_level": "Log level of every process",
}


@dataclass(frozen=True)
class SettingRow:
    section: str
    variable: str
    default: str
    meaning: str


def _source_notes() -> dict[str, tuple[str, str]]:
    """(section, comment) per field, read from the comments of shared/settings.py.

    The comments are where the settings are explained, so the table reads them rather than
    keeping a second copy that would drift.
    """
    source = Path(settings_module.__file__).read_text()
    trailing: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT and token.line[: token.start[1]].strip():
            trailing[token.start[0]] = token.string.lstrip("#").strip()
    lines = source.splitlines()
    tree = ast.parse(source)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Settings")
    notes: dict[str, tuple[str, str]] = {}
    for node in cls.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        above: list[str] = []
        index = node.lineno - 2
        while index >= 0 and lines[index].strip().startswith("#"):
            if SECTION_RE.match(lines[index].strip()):
                break
            above.insert(0, lines[index].strip().lstrip("#").strip())
            index -= 1
        section = "General"
        for line in reversed(lines[: node.lineno - 1]):
            match = SECTION_RE.match(line.strip())
            if match:
                section = match["name"]
                break
        comment = " ".join([*above, trailing.get(node.lineno, "")]).strip()
        notes[node.target.id] = (section, comment)
    return notes


def _default_text(value: Any) -> str:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value is None or value == "":
        return "(empty)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, int) and value >= MIB and value % MIB == 0:
        return f"`{value}` ({value // MIB} MiB)"
    return f"`{value}`"


def _choices(field: FieldInfo) -> str:
    if typing.get_origin(field.annotation) is typing.Literal:
        return "one of " + ", ".join(f"`{choice}`" for choice in typing.get_args(field.annotation))
    return ""


def settings_rows() -> list[SettingRow]:
    """One row per Settings field, in the order of shared/settings.py."""
    prefix = str(Settings.model_config.get("env_prefix", ""))
    notes = _source_notes()
    rows = []
    for name, field in Settings.model_fields.items():
        section, comment = notes.get(name, ("General", ""))
        parts = [field.description or "", MEANINGS.get(name, ""), comment, _choices(field)]
        meaning = ". ".join(part[:1].upper() + part[1:].rstrip(".") for part in parts if part)
        rows.append(
            SettingRow(section, f"{prefix}{name}".upper(), _default_text(field.default), meaning)
        )
    return rows


def settings_markdown() -> str:
    """docs/configuration.md's tables, one per section of shared/settings.py."""
    out: list[str] = []
    section = None
    for row in settings_rows():
        if row.section != section:
            section = row.section
            out += ["", f"**{section[:1].upper()}{section[1:]}**", ""]
            out += ["| Variable | Default | Meaning |", "|---|---|---|"]
        meaning = row.meaning.replace("|", "\\|")
        out.append(f"| `{row.variable}` | {row.default} | {meaning} |")
    return "\n".join(out).strip() + "\n"


def with_table(readme: str, table: str) -> str:
    pattern = re.compile(re.escape(TABLE_BEGIN) + r".*?" + re.escape(TABLE_END), re.DOTALL)
    if not pattern.search(readme):
        raise ValueError(f"the file has no {TABLE_BEGIN} … {TABLE_END} block")
    return pattern.sub(lambda _m: f"{TABLE_BEGIN}\n{table}{TABLE_END}", readme, count=1)
