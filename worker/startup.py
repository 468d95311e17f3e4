"""Start-up check of the upstream model: a retired or unknown model id (the Gemini preview ids
may already be gone) or a bad key is reported once, loudly, before any job is paid for."""

import asyncio
import logging

from shared.errors import UpstreamConfigError, UpstreamError
from shared.settings import get_settings
from worker.upstream import build_upstream

log = logging.getLogger(__name__)


async def _check() -> None:
    upstream = build_upstream(get_settings())  # a throwaway adapter: children build their own
    try:
        await upstream.check_model()
    finally:
        await upstream.aclose()


def check_upstream_model() -> bool:
    """True if the model answered; never raises, so a flaky upstream cannot stop a worker."""
    try:
        asyncio.run(_check())
    except UpstreamConfigError as exc:
        log.critical(
            "upstream configuration error: %s (every submit will fail and be refunded)", exc.message
        )
        return False
    except UpstreamError as exc:
        log.warning("could not check the upstream model at start-up: %s", exc.message)
        return False
    log.info("upstream model check passed")
    return True
