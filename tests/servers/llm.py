"""An OpenAI-compatible chat-completions server on 127.0.0.1 for tests: answers what it is told
to, fails on demand (status codes, garbage, slowness), and records every request."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.servers import serving_in_thread


@dataclass
class Reply:
    kind: str = "answer"  # "answer", "status", "garbage", "slow"
    text: str = ""
    status: int = 200
    seconds: float = 0.0
    when: str = ""  # given only to a request whose messages contain this text


@dataclass
class LlmState:
    replies: deque[Reply] = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: LlmState

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        with self.state.lock:
            self.state.requests.append(
                {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
            )
            reply = self._next(json.dumps(body.get("messages", []), ensure_ascii=False))
        if reply.kind == "slow":
            time.sleep(reply.seconds)
            reply = Reply(text=reply.text)
        if reply.kind == "status":
            self._send(
                reply.status, {"error": {"message": "failure on purpose"}}, {"Retry-After": "0"}
            )
        elif reply.kind == "garbage":
            self._send(200, {"unexpected": True})
        else:
            self._send(
                200,
                {
                    "id": "chatcmpl-test",
                    "object": "chat.completion",
                    "model": body.get("model"),
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": reply.text},
                        }
                    ],
                },
            )

    def _next(self, messages: str) -> Reply:
        """The first queued reply for these messages (parallel requests come in any order)."""
        for reply in self.state.replies:
            if not reply.when or reply.when in messages:
                self.state.replies.remove(reply)
                return reply
        return Reply(text="No reply was queued.")

    def _send(
        self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass


@contextmanager
def running_llm() -> Iterator[tuple[str, LlmState]]:
    state = LlmState()
    with serving_in_thread(type("H", (_Handler,), {"state": state})) as base:
        yield f"{base}/v1", state
