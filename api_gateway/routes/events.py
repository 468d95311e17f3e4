"""GET /api/videos/{uuid}/events: Server-Sent Events of the job's status answer until it is
terminal (api_gateway/waiting_events.py)."""

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import StreamingResponse

from api_gateway.video_status import current, owned_answer
from api_gateway.waiting import is_terminal
from api_gateway.waiting_events import HEADERS, event_id, last_event_id, stream

router = APIRouter(tags=["videos"])

EVENTS_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "`text/event-stream`: `id: <n>`, `event: status`, `data: <status answer>`"
        " per change, the terminal one last; `: ping` comments every 15 s",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    204: {"description": "Last-Event-ID is the terminal event already: nothing more will come"},
}


@router.get(
    "/videos/{uuid}/events",
    response_class=StreamingResponse,
    responses=EVENTS_DOC,
)
async def video_events(
    uuid: str,
    request: Request,
    last_event: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> Response:
    """Follow a job without polling: an event for each change of its status and progress,
    ending with the terminal one; reconnect with `Last-Event-ID` to resume."""
    account_id, data = await owned_answer(request, uuid)
    uuid = data["uuid"]
    after = last_event_id(last_event)
    if is_terminal(data) and event_id(data) <= after:
        return Response(status_code=204)
    return StreamingResponse(
        stream(uuid, partial(current, uuid, account_id), after),
        media_type="text/event-stream",
        headers=HEADERS,
    )
