"""A webhook receiver for the tests: an HTTP server on a free port of 127.0.0.1, in a thread,
that checks every request's Standard Webhooks signature as a subscriber would and keeps it.

Each path is one subscriber; ``fail(path, n)`` makes the first ``n`` tries of each message to
that path answer 500.
"""

import base64
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOLERANCE_S = 300  # what Standard Webhooks libraries accept by default


@dataclass
class Received:
    path: str
    message_id: str
    timestamp: int
    signature: str
    body: bytes
    at: float

    @property
    def json(self) -> Any:
        return json.loads(self.body)


def verify(secret: str, message: Received) -> bool:
    """The Standard Webhooks check, written from the specification (not the service's code)."""
    key = base64.b64decode(secret.split("_", 1)[1])
    signed = f"{message.message_id}.{message.timestamp}.".encode() + message.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    offered = [
        part.split(",", 1)[1] for part in message.signature.split() if part.startswith("v1,")
    ]
    fresh = abs(time.time() - message.timestamp) <= TOLERANCE_S
    return fresh and any(hmac.compare_digest(expected, sig) for sig in offered)


class Receiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.answered: list[Received] = []
        self.failures: dict[str, int] = {}
        self.hangs: dict[str, float] = {}
        self.tries: dict[tuple[str, str], int] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                message = Received(
                    path=self.path,
                    message_id=self.headers.get("webhook-id", ""),
                    timestamp=int(self.headers.get("webhook-timestamp", "0")),
                    signature=self.headers.get("webhook-signature", ""),
                    body=body,
                    at=time.time(),
                )
                with receiver.lock:
                    receiver.received.append(message)
                    key = (self.path, message.message_id)
                    receiver.tries[key] = receiver.tries.get(key, 0) + 1
                    failing = receiver.tries[key] <= receiver.failures.get(self.path, 0)
                    hang = receiver.hangs.get(self.path, 0) if receiver.tries[key] == 1 else 0
                    if not failing and not hang:
                        receiver.answered.append(message)
                if hang:  # the first try of each message is held, then refused
                    time.sleep(hang)
                    failing = True
                self.send_response(500 if failing else 204)
                self.send_header("content-length", "0")
                self.end_headers()

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # workers send many at once; the default backlog is 5
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Receiver":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def fail(self, path: str, times: int) -> None:
        self.failures[path] = times

    def hang(self, path: str, seconds: float) -> None:
        """Hold the first try of each message to ``path`` this long (then answer 500)."""
        self.hangs[path] = seconds

    def at(self, path: str) -> list[Received]:
        """The messages a path answered 2xx to, in order."""
        with self.lock:
            return [m for m in self.answered if m.path == path]

    def types(self, path: str) -> list[str]:
        return [m.json["type"] for m in self.at(path)]
