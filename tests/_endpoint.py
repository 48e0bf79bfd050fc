"""A local HTTP endpoint for alert tests: Apprise's ``json://`` notifier posts to it."""

from __future__ import annotations

import http.server
import json
import threading
from typing import Any, Dict, List


class Endpoint:
    """An HTTP server on 127.0.0.1 that keeps every JSON body posted to it."""

    def __init__(self) -> None:
        self.bodies: List[Dict[str, Any]] = []
        self.fail_next = 0
        self.lock = threading.Lock()
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with endpoint.lock:
                    failing = endpoint.fail_next > 0
                    if failing:
                        endpoint.fail_next -= 1
                    else:
                        endpoint.bodies.append(json.loads(body))
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"json://127.0.0.1:{self.server.server_address[1]}/hook"

    def seqs(self) -> List[int]:
        """The history event numbers received, from the 'history event N' in each body."""
        with self.lock:
            bodies = list(self.bodies)
        found = []
        for body in bodies:
            marker = body["message"].split("history event ")[1]
            found.append(int(marker.split(",")[0]))
        return found

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
