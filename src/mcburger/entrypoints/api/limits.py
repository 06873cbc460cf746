"""What hostile input meets before any route: a body limit and error bodies that echo nothing.

- ``BodyLimit``: a request body over ``MAX_BODY_BYTES`` gets 413 before it is read, whatever
  its content type: at once when ``Content-Length`` says so, else as soon as the chunks read
  so far pass the limit (a chunked upload). Every JSON body this API takes is well under 1 KiB.
- ``validation_failed``: a 422 whose ``detail`` lists each error's ``loc``, ``msg`` and ``type``
  only, never the ``input`` (FastAPI's default echoes it: a 16 MiB string came back whole,
  and a lone surrogate could not be rendered at all, so the error became a 500). Texts are cut
  to ``MAX_TEXT`` characters and made valid UTF-8; at most ``MAX_ERRORS`` errors are listed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 64 * 1024
MAX_TEXT = 200
MAX_ERRORS = 20


class BodyTooLarge(HTTPException):
    def __init__(self) -> None:
        super().__init__(413, f"request body over {MAX_BODY_BYTES} bytes")


class BodyLimit:
    """ASGI middleware: see the module's docstring."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _too_large(send)
            return
        received = 0
        started = False

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    # Raised inside the route's body read: FastAPI re-raises an HTTPException,
                    # so the answer is this 413 (not its generic 400 for a body it cannot read)
                    raise BodyTooLarge()
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, watched)
        except BodyTooLarge:
            if started:
                raise
            await _too_large(send)


async def _too_large(send: Send) -> None:
    body = json.dumps({"detail": f"request body over {MAX_BODY_BYTES} bytes"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def safe_text(text: str, limit: int = MAX_TEXT) -> str:
    """``text`` cut to ``limit`` characters, lone surrogates and the like replaced by '?'."""
    cut = text if len(text) <= limit else text[:limit] + "…"
    return cut.encode("utf-8", "replace").decode("utf-8")


def _loc(parts: Sequence[Any]) -> list[str | int]:
    return [part if isinstance(part, int) else safe_text(str(part), 60) for part in parts]


async def validation_failed(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    detail = [{"loc": _loc(e.get("loc", ())), "msg": safe_text(str(e.get("msg", ""))),
               "type": safe_text(str(e.get("type", "")), 60)}
              for e in error.errors()[:MAX_ERRORS]]
    return JSONResponse({"detail": detail}, status_code=422)
