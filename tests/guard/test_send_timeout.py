"""The send timeout in process, on a server of the test's own whose ``send`` blocks as a socket
whose client does not read (no transport to reset: the request is still cancelled)."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from starlette.types import Message, Receive, Scope, Send

from app.routers.bulk import ClosingStreamingResponse
from app.send_timeout import SendTimeoutMiddleware

TIMEOUT = 0.2
SCOPE: Scope = {
    "type": "http",
    "asgi": {"version": "3.0", "spec_version": "2.3"},
    "method": "GET",
    "path": "/export",
    "headers": [],
}


class Client:
    """Takes ``reads`` body messages, then stops reading: every later send waits for ever."""

    def __init__(self, reads: int) -> None:
        self.reads = reads
        self.bodies: list[bytes] = []
        self.gone = asyncio.Event()

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.body":
            if len(self.bodies) >= self.reads:
                await asyncio.Event().wait()
            self.bodies.append(message.get("body", b""))

    async def receive(self) -> Message:
        await self.gone.wait()
        return {"type": "http.disconnect"}


async def serve(app: SendTimeoutMiddleware, client: Client) -> None:
    async with asyncio.timeout(5):
        await app(dict(SCOPE), client.receive, client.send)


async def test_a_stalled_stream_is_cancelled_and_its_generator_closed() -> None:
    closed = asyncio.Event()

    async def chunks() -> AsyncIterator[bytes]:
        try:
            for n in range(1000):
                yield b"chunk %d\n" % n
        finally:
            closed.set()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await ClosingStreamingResponse(chunks())(scope, receive, send)

    client = Client(reads=3)
    started = asyncio.get_running_loop().time()
    await serve(SendTimeoutMiddleware(app, timeout_s=TIMEOUT), client)
    assert asyncio.get_running_loop().time() - started >= TIMEOUT - 0.06
    assert client.bodies == [b"chunk 0\n", b"chunk 1\n", b"chunk 2\n"]
    assert closed.is_set()


async def test_a_plain_answer_that_cannot_be_sent_is_cancelled() -> None:
    finished = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            await send({"type": "http.response.body", "body": b"x" * 100})
        finally:
            finished.append(True)

    await serve(SendTimeoutMiddleware(app, timeout_s=TIMEOUT), Client(reads=0))
    assert finished == [True]


async def test_work_before_the_answer_and_a_slow_reader_are_not_timed_out() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(3 * TIMEOUT)  # computing, nothing to send yet
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(4):
            await send({"type": "http.response.body", "body": b"x", "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    class SlowClient(Client):
        async def send(self, message: Message) -> None:
            await asyncio.sleep(0.6 * TIMEOUT)  # reads, slowly: each send waits a while
            await super().send(message)

    client = SlowClient(reads=10)
    await serve(SendTimeoutMiddleware(app, timeout_s=TIMEOUT), client)
    assert client.bodies == [b"x"] * 4 + [b""]


async def test_another_cancellation_goes_on() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(10)

    task = asyncio.create_task(
        SendTimeoutMiddleware(app, timeout_s=TIMEOUT)(
            dict(SCOPE), Client(0).receive, Client(0).send
        )
    )
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_zero_turns_it_off() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"x"})

    client = Client(reads=0)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(3 * TIMEOUT):
            await SendTimeoutMiddleware(app, timeout_s=0)(dict(SCOPE), client.receive, client.send)
