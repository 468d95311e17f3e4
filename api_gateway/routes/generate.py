"""POST /api/generate-video."""

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from api_gateway.envelope import ok
from api_gateway.ratelimit import LimitedCaller
from api_gateway.schemas import Envelope, GenerateVideoData, GenerateVideoRequest
from api_gateway.submission import submit
from shared.states import PUBLIC_STATUS, JobStatus
from shared.timeutil import iso_z

router = APIRouter(tags=["videos"])


@router.post("/generate-video", response_model=Envelope[GenerateVideoData])
async def generate_video(
    request: Request,
    body: GenerateVideoRequest,
    caller: LimitedCaller,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    """Create a video job: debits credits, answers at once; poll status or wait for the webhook."""
    state = request.app.state
    result = await submit(body, caller.account_id, idempotency_key, state.paid_inserts)
    job = result.job
    if not result.replayed:  # committed: its message may leave (api_gateway/publisher.py)
        state.submit_publisher.add(job["id"])
    data = GenerateVideoData(
        uuid=job["id"],
        status=PUBLIC_STATUS[JobStatus(job["status"])],  # type: ignore[arg-type]
        generationType=job["generation_type"],
        prompt=job["prompt"],
        aspectRatio=job["aspect_ratio"],
        createdAt=iso_z(job["created_at"]),
    ).model_dump()
    headers = {"Idempotent-Replayed": "true"} if result.replayed else None
    return ok(data, headers=headers)
