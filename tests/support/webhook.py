"""A real HTTP receiver for webhook tests: http.server in a thread on a free port, recording every request (JSON
body, headers) and answering as told (fail the first N requests, or run a hook before answering)."""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Receiver:
    url: str = ""
    requests: list[dict] = field(default_factory=list)  # {"body", "headers", "status"} in arrival order
    fail_first: int = 0  # answer 503 to this many requests first
    fail_status: int = 503
    before_answer: object = None  # callable(body) run before answering (e.g. kill the notifier's connection)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def delivered(self) -> list[dict]:
        """Bodies answered 2xx, in order."""
        with self.lock:
            return [r["body"] for r in self.requests if r["status"] == 200]

    def count(self) -> int:
        with self.lock:
            return len(self.requests)


@contextmanager
def webhook_receiver():
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])).decode("utf-8"))
            with receiver.lock:
                failing = receiver.fail_first > 0
                receiver.fail_first -= 1 if failing else 0
                status = receiver.fail_status if failing else 200
                receiver.requests.append({"body": body, "headers": dict(self.headers), "status": status})
            if receiver.before_answer is not None:
                receiver.before_answer(body)
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
