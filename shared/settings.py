"""The one settings object. Every tunable is a `VEO_*` environment variable (or `.env` line)."""

import ipaddress
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.pricing import DEFAULT_PRICE_TABLE, parse
from shared.stack_record import read_record

MIB = 1024 * 1024
DEV_OUTBOUND_ALLOW_CIDRS = "127.0.0.0/8,::1/128"


class RedisUrlOrigin(StrEnum):
    """Where `redis_url` came from, as operators are told when that Redis does not answer."""

    GIVEN = "VEO_REDIS_URL"
    RUNNING_STACK = "the record of the dev stack running on the data dir (stack.json)"
    EMBEDDED = "VEO_EMBEDDED_REDIS_PORT (no VEO_REDIS_URL, and no running stack recorded one)"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VEO_", env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = "development"
    data_dir: Path = Path("var")

    # --- storage of record and transport -------------------------------------------------------
    database_url: str = ""  # empty: SQLite file in data_dir (the embedded default)
    db_pool_size: int = 10
    # For a PostgreSQL that stops answering (a network partition) rather than refusing.
    db_connect_timeout_s: float = 5.0
    # An idle pooled connection is probed after half of this (shared/db.py).
    db_dead_connection_s: float = 20.0
    # Empty: the Redis of the dev stack running on data_dir (its stack.json), else the embedded
    # Redis's address (embedded_redis_port): the same Redis as `make run` on that data dir.
    redis_url: str = ""
    redis_key_prefix: str = "veo:"
    redis_socket_timeout_s: float = 2.0

    # --- gateway ---------------------------------------------------------------------------------
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8000
    public_base_url: str = ""  # empty: http://{gateway_host}:{gateway_port}
    # Credits per second of video by model, resolution and audio ("audio"/"silent"), JSON;
    # a job costs rate x durationSeconds x sampleCount, rounded up (shared/pricing.py).
    price_table: str = DEFAULT_PRICE_TABLE
    # Each API key has two budgets per minute, settable per account (veo-admin
    # set-rate-limits). This is the `write` one: requests that create or change something
    # (submit, upload, cancel, delete).
    default_rate_limit_per_minute: int = 60
    # The `read` budget: GET and HEAD (status, list, events, account); a waiting request
    # (Prefer: wait, SSE) counts once. 600: ~20 jobs polled every 2 s (the seed advises 5-10 s).
    default_read_rate_limit_per_minute: int = 600
    # Refused API keys (unknown or revoked) one client address may send per minute; past that,
    # the address is answered 1003 with Retry-After until the minute ends, and its unknown keys
    # are no longer looked up in the database. IPv6 clients count per /64. 0: no limit. Behind a
    # reverse proxy, start uvicorn with --forwarded-allow-ips so the address is the client's.
    auth_failures_per_minute: int = 30
    # How long a key the database does not know is remembered as unknown in Redis, so a client
    # repeating it costs no database read (new keys are random: none was ever remembered).
    auth_unknown_key_ttl_s: int = 30
    dashboard_session_ttl_s: int = 8 * 3600  # how long a dashboard sign-in lasts (/dashboard)
    dashboard_login_link_ttl_s: int = 15 * 60  # a `veo-admin login-link` URL's lifetime (once)
    # How long a `processing` status mirrored in Redis is served before the database is read
    # again. A finish whose Redis write was lost is mirrored again by the next sweep; this bounds
    # how long a finished job can show as processing if Redis stays unreachable from workers.
    status_mirror_processing_ttl_s: int = 300
    # Longest `Prefer: wait=N` honoured (a larger N is cut to this): a waiting request holds
    # only a future on the process's one pub/sub connection (api_gateway/waiting.py).
    wait_max_s: int = 60
    # The event stream's `: ping` comment, so proxies do not close a quiet stream.
    events_heartbeat_s: float = 15.0
    # How often the event stream recomputes a processing job's progress estimate (the upstream
    # reports none) and sends it if it grew.
    events_progress_interval_s: float = 2.0
    # Veo takes up to 1,024 tokens; 2,000 characters stays below that even for token-dense text.
    prompt_max_chars: int = 2000
    upload_max_bytes: int = 50 * MIB
    image_max_pixels: int = 40_000_000
    image_url_max_bytes: int = 50 * MIB
    # Non-public CIDRs that imageUrl/webhookUrl may still reach (comma-separated). Unset: the
    # loopback ranges in development (a developer's receiver on localhost), none in production.
    # Link-local and cloud-metadata addresses are refused even when listed, and so are the
    # stack's own services at their ports (shared/netguard/addresses.py, services.py).
    outbound_allow_cidrs: str | None = None

    # --- upstream model --------------------------------------------------------------------------
    # "simulator" runs the vertex (or, with simulator_protocol, the gemini) adapter against the
    # bundled simulator (simulator_url). For real use: "vertex" with veo-3.1-generate-001.
    upstream_backend: Literal["simulator", "gemini", "vertex"] = "simulator"
    simulator_protocol: Literal["gemini", "vertex"] = "vertex"
    simulator_host: str = "127.0.0.1"
    simulator_port: int = 8090
    simulator_url: str = ""  # empty: http://{simulator_host}:{simulator_port} (set it in compose)
    simulator_default_latency_s: float = 4.0
    simulator_latency_jitter_s: float = 1.0
    simulator_fault_rate: float = 0.0  # share of calls answered with a random injected fault
    simulator_render: Literal["full", "fast"] = "full"  # fast: reuse one clip per aspect ratio
    # "veo": each job's latency drawn from Veo 3.1's (log-normal, median ~75 s, by model,
    # resolution and duration; docs/simulator.md); "fixed": default latency +/- jitter.
    simulator_latency_model: Literal["fixed", "veo"] = "fixed"
    # "real": MP4s padded (a `free` box) to Veo's sizes (~4.8 MB for 8 s 720p); "small": as
    # rendered.
    simulator_video_size: Literal["small", "real"] = "real"
    # Where the simulator pushes Pub/Sub-style notices for submits naming a pubsubTopic (empty:
    # no push); `make run` points it at the gateway's /api/upstream/notifications.
    simulator_push_url: str = ""
    # Comma-separated model ids answering 404 "no longer available": by default the three
    # veo-3.1-*-preview ids, shut down on the Gemini API on 2026-10-22.
    simulator_retired_models: str = (
        "veo-3.1-generate-preview,veo-3.1-fast-generate-preview,veo-3.1-lite-generate-preview"
    )
    # What the simulator's control endpoints (/_sim/stats, reset, config, ...) require in the
    # X-Sim-Token header; empty: they are closed. `make run` and the tests generate one per run.
    simulator_control_token: SecretStr = SecretStr("")
    gemini_base_url: str = "https://generativelanguage.googleapis.com"
    gemini_api_key: SecretStr = SecretStr("")
    vertex_base_url: str = ""  # empty: https://{vertex_location}-aiplatform.googleapis.com
    vertex_project: str = ""
    vertex_location: str = "us-central1"
    vertex_credentials_file: str = ""  # service-account JSON; empty: application default
    vertex_output_gcs_uri: str = ""  # empty: videos come back inline as bytes
    vertex_token_url: str = ""  # empty: the service account's own token_uri
    gcs_base_url: str = "https://storage.googleapis.com"
    pubsub_topic: str = ""
    push_notifications: bool = False
    push_audience: str = ""
    push_service_account: str = ""
    push_certs_url: str = "https://www.googleapis.com/oauth2/v1/certs"
    model: str = ""  # empty: the backend's default Veo 3.1 model id
    resolution: Literal["720p", "1080p", "4k"] = "720p"
    duration_s: Literal[4, 6, 8] = 8
    negative_prompt: str = ""
    # Vertex `generateAudio` for jobs that do not say: audio is priced higher on Vertex AI.
    generate_audio: bool = True
    upstream_connect_timeout_s: float = 5.0
    upstream_timeout_s: float = 30.0
    video_max_bytes: int = 512 * MIB
    # Each input image as sent inline (before base64, which adds a third). Images are scaled to
    # 1920 px on the long side first (a JPEG of that is about 1 MiB), so this only bounds the
    # request body, which holds up to five images (first and last frame, three references).
    upstream_image_max_bytes: int = 8 * MIB

    # --- pipeline --------------------------------------------------------------------------------
    # Below Vertex AI's per-project ceiling for Veo 3.1 (50 requests a minute), so that the
    # upstream's own 429s stay rare.
    upstream_submits_per_minute: int = 40
    # A submit sent but never answered (read timeout, dropped connection, 504) may have been
    # accepted and billed upstream. fail: fail the job (code upstream_outcome_unknown) and
    # refund it; retry: submit it again, at the risk of paying for two generations (the user is
    # charged once either way). See docs/guarantees.md.
    unknown_submit_policy: Literal["fail", "retry"] = "fail"
    upstream_polls_per_second: int = 200
    upstream_max_in_flight: int = 1000
    poll_first_delay_s: float = 5.0
    poll_max_interval_s: float = 30.0
    poll_min_interval_s: float = 1.0
    poll_schedule: Literal["predictive", "geometric"] = "predictive"
    # The predictive schedule (and the ETA) learn from jobs that started at least this long ago:
    # nearly all of those have finished, so a burst's quick jobs do not stand for all of them.
    poll_history_settle_s: float = 300.0
    poll_backoff_factor: float = 1.5
    poll_tick_s: float = 0.5  # halves tick lateness (10k in flight: poll p99 0.49 s vs 0.99 s)
    poll_batch_size: int = 500
    poll_concurrency: int = 100
    poll_claim_s: float = 60.0
    job_deadline_s: float = 1200.0
    submit_max_attempts: int = 5
    submit_retry_delay_s: float = 5.0
    submit_batch_max: int = 8
    # Waiting jobs are rows; a dispatcher admits the next ones the quota allows, fairly across
    # accounts (worker/tasks/dispatch.py). Beat sends a tick this often, and the gateway one
    # right after it commits new jobs.
    dispatch_tick_s: float = 0.5
    dispatch_batch_max: int = 500  # most jobs one tick admits (a full tick runs again at once)
    # Most jobs of one account admitted, submitting or generating at once; 0: no cap.
    account_max_generating: int = 0
    # Most image jobs of one account fetching their image (or submitting) at once, so that one
    # account's slow image host holds at most this many of the inputs worker's processes.
    inputs_per_account: int = 2
    inputs_concurrency: int = 4  # processes of the inputs worker (image fetches, then submits)
    # For all of a job's image URLs together (first, last, reference images): each fetch gets
    # what is left, so a job holds its worker no longer than one slow image would. At most 60:
    # the submit task's time limit (120 s) covers the fetch and the submit.
    image_fetch_timeout_s: float = Field(default=30.0, gt=0, le=60)
    sweep_interval_s: float = 15.0
    sweep_stale_after_s: float = 30.0
    # A submit still `submitting` this long after its last update died mid-call (its hard time
    # limit is 150 s); the sweeper retries it, bounded by submit_max_attempts.
    submit_stale_s: float = 300.0
    worker_concurrency: int = 2
    webhook_concurrency: int = 16  # threads of the webhook worker (deliveries wait on receivers)

    # --- outbound webhooks -----------------------------------------------------------------------
    # Seconds before each retry (jittered ±20 %). The default spans about 27 h, like Svix.
    webhook_retry_schedule_s: str = "5,300,1800,7200,18000,36000,36000"
    webhook_connect_timeout_s: float = 3.0
    webhook_timeout_s: float = 10.0
    webhook_endpoint_disable_after_s: float = 5 * 24 * 3600
    webhook_secret_grace_s: float = 24 * 3600
    webhook_claim_s: float = 60.0

    # --- video and image storage -----------------------------------------------------------------
    storage_backend: Literal["local", "s3"] = "local"
    storage_dir: Path | None = None  # empty: data_dir/storage
    s3_bucket: str = "veo-videos"
    s3_endpoint_url: str = ""
    s3_region: str = "us-east-1"
    s3_access_key_id: str = ""
    s3_secret_access_key: SecretStr = SecretStr("")
    s3_url_expiry_s: int = 7 * 24 * 3600
    # Local storage's file URLs are signed (HMAC) and expire after this (rounded up to the
    # hour); a fresh one comes with every status answer. Webhook payloads carry one too.
    file_url_expiry_s: int = 7 * 24 * 3600
    # The HMAC key of those URLs; empty: generated once and kept in the storage directory,
    # which the gateways and workers share.
    url_signing_key: SecretStr = SecretStr("")
    # Finished videos are deleted this many days after they completed (`expiresAt` in the
    # status answer); 0: kept forever.
    video_retention_days: int = 30
    # Uploads no job used for this long (and none still waiting or generating uses) are removed.
    upload_unused_retention_s: int = 24 * 3600
    retention_sweep_interval_s: float = 600.0  # how often beat runs the retention sweep
    # Most bytes of uploaded images one account may keep stored; an upload past it is 1000.
    upload_quota_bytes: int = 500 * MIB

    # --- operations ------------------------------------------------------------------------------
    flower_port: int = 5555
    flower_user: str = "admin"
    flower_password: SecretStr = SecretStr("")  # empty: generated once and kept in data_dir
    flower_host: str = "127.0.0.1"  # Flower's listen address (0.0.0.0 in a container)
    flower_max_tasks: int = 10_000  # tasks Flower keeps in memory (its own default, 100k, bloats)
    flower_purge_offline_workers_s: int = 600  # forget workers offline this long (scaled-away ones)
    # Port of the embedded Redis that `make run` starts when VEO_REDIS_URL is unset (see redis_url).
    embedded_redis_port: int = 6390
    log_level: str = "INFO"
    # "json": every process (gateway, workers, beat) logs one JSON object per line, with the job
    # uuid, account id and task id where they apply (shared/logs.py); "human": plain lines.
    log_format: Literal["human", "json"] = "human"

    # --- observability (docs/operations.md, "Metrics") ------------------------------------------
    # The gateway's GET /metrics (Prometheus text format): no API key and no rate limit. Off:
    # 404.
    metrics_enabled: bool = True
    metrics_allow_cidrs: str = ""  # who may read /metrics (comma-separated CIDRs); empty: anyone
    # The exporter of a worker host: the first worker of the host to bind this port serves the
    # metrics of every worker process under data_dir/metrics; 0: none.
    worker_metrics_port: int = 9808
    worker_metrics_host: str = "127.0.0.1"  # the worker exporter's address (0.0.0.0 in a container)
    # GET /api/ready answers 503 past each of these three (docs/operations.md).
    ready_sweep_max_age_s: float = 120.0  # The sweeper silent this long (is beat running?)
    ready_backlog_max_age_s: float = 900.0  # the oldest waiting (pending) job this old
    ready_upstream_error_rate_max: float = 0.5  # this share of 5 minutes' upstream calls failed

    @field_validator("outbound_allow_cidrs", "metrics_allow_cidrs")
    @classmethod
    def _valid_cidrs(cls, value: str | None) -> str | None:
        for part in (value or "").split(","):
            if part.strip():
                ipaddress.ip_network(part.strip(), strict=False)  # ValueError names the bad one
        return value

    @field_validator("price_table")
    @classmethod
    def _valid_price_table(cls, value: str) -> str:
        parse(value)  # ValueError names what is wrong
        return value

    _redis_url_origin: RedisUrlOrigin = PrivateAttr(default=RedisUrlOrigin.GIVEN)

    @model_validator(mode="after")
    def _derive(self) -> "Settings":
        if not self.redis_url:
            running = read_record(self.data_dir)
            if running is not None:
                self.redis_url = running.redis_url
                self._redis_url_origin = RedisUrlOrigin.RUNNING_STACK
            else:
                self.redis_url = f"redis://127.0.0.1:{self.embedded_redis_port}/0"
                self._redis_url_origin = RedisUrlOrigin.EMBEDDED
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'veo.db').resolve()}"
        if not self.public_base_url:
            self.public_base_url = f"http://{self.gateway_host}:{self.gateway_port}"
        self.public_base_url = self.public_base_url.rstrip("/")
        if not self.simulator_url:
            self.simulator_url = f"http://{self.simulator_host}:{self.simulator_port}"
        self.simulator_url = self.simulator_url.rstrip("/")
        if self.outbound_allow_cidrs is None:
            self.outbound_allow_cidrs = (
                DEV_OUTBOUND_ALLOW_CIDRS if self.environment == "development" else ""
            )
        if self.storage_dir is None:
            self.storage_dir = self.data_dir / "storage"
        return self

    @property
    def webhook_retry_delays_s(self) -> list[float]:
        return [float(part) for part in self.webhook_retry_schedule_s.split(",") if part.strip()]

    @property
    def redis_url_origin(self) -> RedisUrlOrigin:
        return self._redis_url_origin

    @property
    def upstream_protocol(self) -> Literal["gemini", "vertex"]:
        """The wire protocol the upstream speaks (the simulator speaks either)."""
        if self.upstream_backend == "simulator":
            return self.simulator_protocol
        return self.upstream_backend

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def local_storage_dir(self) -> Path:
        assert self.storage_dir is not None
        return self.storage_dir


def without_password(url: str) -> str:
    """A service URL as it may be printed: its password, if any, masked."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


@lru_cache
def get_settings() -> Settings:
    return Settings()
