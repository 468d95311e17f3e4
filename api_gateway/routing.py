"""The route class of every authenticated route: the caller is admitted before FastAPI reads
the body, so a request without a valid key is answered 1002 whatever its body holds.

FastAPI parses a JSON body before it runs any dependency, so a broken body used to win over a
missing key (1000 instead of 1002). Here the body is parsed once, after admission; FastAPI then
reuses the parsed value (Starlette caches `Request.json()`). A body that is not JSON at all
(invalid UTF-8, nesting deeper than the parser allows) is the same 1000 "malformed JSON" as any
other bad JSON, not FastAPI's bare "error parsing the body".
"""

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from api_gateway.deps import admit
from shared.errors import invalid

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def _is_json(content_type: str) -> bool:
    """As FastAPI decides (with its strict content type): application/json or +json."""
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def parse_json_body(request: Request) -> None:
    """Parse (and cache) a JSON body, or answer 1000 "malformed JSON"."""
    if not _is_json(request.headers.get("content-type", "")) or not await request.body():
        return
    try:
        await request.json()
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise invalid("body", "malformed JSON") from None


class AuthenticatedRoute(APIRoute):
    """Admits the caller (api_gateway.deps.admit) first; `LimitedCaller` then reads the result."""

    def get_route_handler(self) -> Handler:
        handle = super().get_route_handler()
        reads_json = self.body_field is not None

        async def admitted_first(request: Request) -> Response:
            request.state.admission = await admit(request)
            if reads_json:
                await parse_json_body(request)
            return await handle(request)

        return admitted_first
