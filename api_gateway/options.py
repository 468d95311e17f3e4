"""A request's generation options: defaults from settings, the model's capability check (a 1000
naming the field, before anything is charged) and the price, in one call for `prepare`."""

from typing import Any

from api_gateway.schemas import GenerateVideoRequest
from shared import job_options
from shared.capabilities import Inputs, Refused, check
from shared.errors import invalid
from shared.pricing import NoPrice, credits_for
from shared.settings import get_settings

# The request's fields added beside the seed's; left out of its fingerprint when not given.
OPTION_FIELDS = (
    *job_options.ECHOED,
    "lastFrameUrl",
    "lastFrameKey",
    "referenceImages",
)


def _inputs(request: GenerateVideoRequest) -> Inputs:
    last_frame = None
    if request.lastFrameUrl is not None:
        last_frame = "lastFrameUrl"
    elif request.lastFrameKey is not None:
        last_frame = "lastFrameKey"
    return Inputs(
        image=bool(request.imageUrl or request.imageKey),
        last_frame=last_frame,
        reference_types=tuple(r.referenceType for r in request.referenceImages or ()),
    )


def priced_options(request: GenerateVideoRequest) -> tuple[int, dict[str, Any]]:
    """The job's price and its `options` column; raises the 1000 for what the model refuses."""
    settings = get_settings()
    given = {name: getattr(request, name) for name in job_options.ECHOED}
    options = job_options.resolve(given, settings)
    try:
        check(options, _inputs(request), settings.upstream_protocol)
        price = credits_for(options, settings.price_table)
    except Refused as refused:
        raise invalid(refused.field, refused.reason) from None
    except NoPrice as missing:
        raise invalid("resolution", f"not offered by this server ({missing})") from None
    extra = {
        "lastFrameUrl": request.lastFrameUrl,
        "lastFrameKey": request.lastFrameKey,
        "referenceImages": [r.model_dump(exclude_none=True) for r in request.referenceImages or ()],
    }
    return price, job_options.to_column(options, extra)
