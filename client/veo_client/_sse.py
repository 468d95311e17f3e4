"""Server-Sent Events, parsed line by line as the HTML standard says (the `data:` lines of one
event are joined, comments such as `: ping` are skipped, `id:` is kept for Last-Event-ID)."""

import json
from dataclasses import dataclass

from veo_client.models import Video


@dataclass(frozen=True)
class ServerSentEvent:
    event: str
    data: str
    id: str | None


class SSEDecoder:
    """Feed it lines (without their line ending); it answers an event on each blank line that
    ends one. `last_event_id` survives events, as the standard's reconnection needs."""

    def __init__(self) -> None:
        self.last_event_id: str | None = None
        self._event = ""
        self._data: list[str] = []

    def feed(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\x00" not in value:
            self.last_event_id = value
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        data, event = self._data, self._event
        self._data, self._event = [], ""
        if not data:
            return None
        return ServerSentEvent(event or "message", "\n".join(data), self.last_event_id)


def video_of(event: ServerSentEvent) -> Video | None:
    """The status answer a `status` event carries; other events are not ours to read."""
    if event.event != "status":
        return None
    return Video.model_validate(json.loads(event.data))


def feed(decoder: SSEDecoder, line: str) -> Video | None:
    """The status a line completes, if it completes one."""
    event = decoder.feed(line)
    return video_of(event) if event is not None else None
