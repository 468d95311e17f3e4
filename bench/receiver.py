"""A loopback webhook receiver for the benchmark, in its own process (raw ASGI on uvicorn).

POST anything: answers 200 at once and remembers (job uuid, event type, arrival time.time()).
GET /received returns what arrived, GET /count?type=T how many events of type T; GET /health
answers 200.
"""

import argparse
import json
import time
from collections import Counter
from typing import Any
from urllib.parse import parse_qs

import uvicorn

received: list[tuple[str, str, float]] = []
counts: Counter[str] = Counter()


async def _body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _answer(send: Any, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["method"] == "POST":
        body = await _body(receive)
        at = time.time()
        try:
            event = json.loads(body)
            received.append((str(event["data"]["uuid"]), str(event["type"]), at))
            counts[str(event["type"])] += 1
        except (ValueError, KeyError, TypeError):
            received.append(("?", "?", at))
        await _answer(send, 200, b'"ok"')
    elif scope["path"] == "/count":
        kind = parse_qs(scope["query_string"].decode()).get("type", [""])[0]
        await _answer(send, 200, str(counts[kind]).encode())
    elif scope["path"] == "/received":
        await _answer(send, 200, json.dumps(received).encode())
    else:
        await _answer(send, 200, b'{"status":"ok"}')


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", lifespan="off")


if __name__ == "__main__":
    main()
