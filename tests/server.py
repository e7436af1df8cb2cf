"""Run the real function under functions-framework on 127.0.0.1 for a test."""
from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from paths import REPO

_START_ATTEMPTS = 300


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_function(env: dict[str, str], log_path: Path):
    """Start `functions-framework --target handler` on a free loopback port; yields its URL."""
    port = free_port()
    command = [sys.executable, "-m", "functions_framework", "--target", "handler",
               "--source", str(REPO / "main.py"), "--host", "127.0.0.1", "--port", str(port)]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=REPO, env={**os.environ, **env}, stdout=log, stderr=log)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_serving(url, process)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=20)


def wait_until_serving(url: str, process: subprocess.Popen) -> None:
    for _ in range(_START_ATTEMPTS):
        if process.poll() is not None:
            raise RuntimeError(f"the function exited with {process.returncode} before serving")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=0.2):
                return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, OSError):
            # Not listening yet: the failed connect (or its short timeout) paces the loop.
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.1)
    raise RuntimeError("the function did not start serving")


def call(url: str, method: str, path: str, *, body: bytes | None = None, headers: dict | None = None):
    """(status, headers, body bytes) of one HTTP call."""
    request = urllib.request.Request(url + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def call_json(url: str, method: str, path: str, payload: dict | None = None, headers: dict | None = None):
    body = json.dumps(payload).encode() if payload is not None else None
    status, response_headers, data = call(url, method, path, body=body,
                                          headers={"Content-Type": "application/json", **(headers or {})})
    return status, json.loads(data)


@contextlib.contextmanager
def serving_bytes(data: bytes):
    """An HTTP server on 127.0.0.1 that answers every GET with `data`; yields its URL."""
    import http.server
    import threading

    class Serve(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Serve)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/mobile_sam.pt"
    finally:
        server.shutdown()
        server.server_close()
