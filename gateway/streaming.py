"""An SSE response that notices a departed client at once.

Starlette's ``StreamingResponse`` stops listening for ``http.disconnect`` under ASGI
spec 2.4 and relies on ``send`` failing, which only happens at the next chunk: a
client that leaves while the upstream is thinking would keep the upstream request
(and its concurrency slot) alive until then. Here the body runs in a task beside a
disconnect listener, and whichever ends first cancels the other; the body iterator's
own ``finally`` blocks close the upstream stream and release the slot.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

from starlette.types import Receive, Scope, Send


class SSEResponse:
    media_type = "text/event-stream"

    def __init__(self, body: AsyncIterator[bytes], headers: Mapping[str, str],
                 status_code: int = 200) -> None:
        self.body = body
        self.status_code = status_code
        raw = [(b"content-type", b"text/event-stream; charset=utf-8"),
               (b"cache-control", b"no-cache"),
               (b"x-accel-buffering", b"no")]
        raw += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        self.raw_headers = raw

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.raw_headers})
        body_task = asyncio.ensure_future(self._send_body(send))
        listen_task = asyncio.ensure_future(self._listen(receive))
        try:
            done, _ = await asyncio.wait({body_task, listen_task},
                                         return_when=asyncio.FIRST_COMPLETED)
            if listen_task in done and not body_task.done():
                body_task.cancel()
            await asyncio.gather(body_task, return_exceptions=True)
        finally:
            listen_task.cancel()
            if not body_task.done():
                body_task.cancel()
            # Close the iterator in this task too, so its finally runs even if the
            # body task was cancelled before it first ran.
            aclose = getattr(self.body, "aclose", None)
            if aclose is not None:
                try:
                    await aclose()
                except (RuntimeError, asyncio.CancelledError):
                    pass

    async def _send_body(self, send: Send) -> None:
        try:
            async for chunk in self.body:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            # The server reports a closed connection by failing send (ASGI 2.4): the
            # client is gone and nothing is left to send.
            pass

    @staticmethod
    async def _listen(receive: Receive) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
