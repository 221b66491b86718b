"""Real servers on 127.0.0.1 that stand in for what cannot run here (SendGrid, an LLM API,
news sites), speaking their wire formats."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextmanager
def serving_in_thread(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Base URL (http://127.0.0.1:PORT) of `handler` served in a thread until the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
