"""The open-loop generator: every scheduled request is sent whatever the answers, latency counts from the
scheduled time, statuses and failures are counted apart."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bench import openloop


class Slow(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/slow":
            time.sleep(0.3)
        status = 404 if self.path == "/missing" else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def test_open_loop_sends_on_schedule_and_measures_from_it():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        requests = [openloop.Request("fast", "/"), openloop.Request("slow", "/slow"),
                    openloop.Request("missing", "/missing")]
        result = openloop.run("127.0.0.1", port, requests, rate=60, seconds=1.0, seed=3)
    finally:
        server.shutdown()
        server.server_close()
    assert 35 <= result["sent"] <= 90  # Poisson around 60 in one second
    assert result["answered"] == result["sent"] and result["errors"] == 0
    kinds = result["by_kind"]
    missing = kinds["missing"]["n"]
    assert kinds["missing"]["statuses"] == {"404": missing} and result["http_4xx"] == missing
    assert kinds["slow"]["p50_ms"] >= 300 > kinds["fast"]["p50_ms"]
    assert result["generator_cpu_percent"] is not None


def test_refused_connections_are_errors():
    result = openloop.run("127.0.0.1", 9, [openloop.Request("nobody", "/")], rate=20, seconds=0.5, timeout=2)
    assert result["answered"] == 0 and result["errors"] == result["sent"] > 0
