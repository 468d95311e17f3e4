"""Literals shared by the gateway and the workers: queue names, task names, key prefixes."""

from typing import Final

# Celery queues: one per concern so a backlog in one never starves another (DESIGN rule 6).
QUEUE_SUBMIT: Final = "veo.submit"
QUEUE_POLL: Final = "veo.poll"
QUEUE_WEBHOOKS: Final = "veo.webhooks"
QUEUE_MAINTENANCE: Final = "veo.maintenance"
# Image jobs: fetching the user's image, then their submit. Its own worker processes, so a slow
# image host never holds a submit slot (the dispatcher caps each account's share of them).
QUEUE_INPUTS: Final = "veo.inputs"
ALL_QUEUES: Final = (QUEUE_SUBMIT, QUEUE_POLL, QUEUE_WEBHOOKS, QUEUE_MAINTENANCE, QUEUE_INPUTS)

# Task names are sent by name from the gateway, which never imports worker code.
TASK_SUBMIT: Final = "veo.submit_job"
TASK_POLL_DUE: Final = "veo.poll_due"
TASK_DISPATCH: Final = "veo.dispatch"
TASK_SWEEP: Final = "veo.sweep"
TASK_DELIVER: Final = "veo.deliver_webhook"
TASK_RETENTION: Final = "veo.retention"  # expired videos and unused uploads (worker/tasks)

# Redis key names, all under settings.redis_key_prefix.
KEY_RATE_LIMIT: Final = "rl"
KEY_API_KEY_CACHE: Final = "auth"
KEY_AUTH_FAILURES: Final = "auth-failures"
KEY_JOB_STATUS: Final = "job-status"
KEY_JOB_EVENTS: Final = "job-events"  # pub/sub channels, one per job (shared.job_events)
KEY_SUBMIT_BUCKET: Final = "upstream:submit-bucket"
KEY_POLL_BUCKET: Final = "upstream:poll-bucket"
KEY_IN_FLIGHT: Final = "upstream:in-flight"
KEY_RECENT_DURATIONS: Final = "stats:recent-durations"
KEY_POLL_LATENESS: Final = "stats:poll-lateness"

HEARTBEAT_SWEEPER: Final = "sweeper"
API_KEY_PREFIX: Final = "veo_"
ENVELOPE_OK_MSG: Final = "Success"
