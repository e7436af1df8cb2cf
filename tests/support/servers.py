"""Real servers on 127.0.0.1 for the tests that need HTTP: the function (as functions-framework
or as the container's gunicorn), and a plain file server for downloads."""
from __future__ import annotations

import contextlib
import http.server
import json
import os
import select
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from .function import PASSWORD
from .paths import REPO

_START_ATTEMPTS = 300
# Variables of the developer's shell that would change what the function under test does.
_FOREIGN_ENV = ("APP_PASSWORD", "SECRET_KEY", "MODEL_URL", "MODEL_SHA256", "MODEL_PATH", "MODEL_PRELOAD",
                "SEGMENTER", "TEMP_DIR", "MODEL_CACHE_DIR", "TRUST_PROXY", "CORS_ORIGINS", "STORE_URL", "REDIS_URL",
                "INPAINTER", "INPAINT_MODEL_PATH", "INPAINT_MODEL_URL", "INPAINT_MODEL_SHA256")


@dataclass(frozen=True)
class Server:
    url: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def function_env(workdir: Path, **overrides: str) -> dict[str, str]:
    """The environment of a function under test: a password, its own store, GrabCut."""
    env = {name: value for name, value in os.environ.items() if name not in _FOREIGN_ENV}
    env.update(APP_PASSWORD=PASSWORD, TEMP_DIR=str(workdir / "temp"), SEGMENTER="grabcut",
               MODEL_CACHE_DIR=str(workdir / "models"))
    env.update(overrides)
    return env


@contextlib.contextmanager
def running_function(env: dict[str, str], workdir: Path, *, gunicorn: bool = False,
                     preexec_fn=None) -> Iterator[Server]:
    """The function on a free loopback port, until the block ends.

    gunicorn=False: `functions-framework --target handler` (the README's path without a
    container); True: `python -m handler.platform.server` (the container's server).
    preexec_fn runs in the child before it starts (e.g. joining a memory cgroup).
    """
    port = free_port()
    if gunicorn:
        command = [sys.executable, "-m", "handler.platform.server"]
        env = {**env, "HOST": "127.0.0.1", "PORT": str(port)}
    else:
        command = [sys.executable, "-m", "functions_framework", "--target", "handler",
                   "--source", str(REPO / "main.py"), "--host", "127.0.0.1", "--port", str(port)]
    log_path = workdir / f"server-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   preexec_fn=preexec_fn)
    server = Server(f"http://127.0.0.1:{port}", process, log_path)
    try:
        wait_until_serving(server)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_until_serving(server: Server) -> None:
    for _ in range(_START_ATTEMPTS):
        if server.process.poll() is not None:
            raise RuntimeError(f"the function exited with {server.process.returncode} before serving:\n"
                               f"{server.log()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{server.url}/health", timeout=0.2):
                return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, OSError):
            # Not listening yet: the failed connect (or its short timeout) paces the loop.
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.process.wait(timeout=0.1)
    raise RuntimeError(f"the function did not start serving:\n{server.log()[-3000:]}")


def call(url: str, method: str, path: str, *, body: bytes | None = None, headers: dict | None = None,
         timeout: float = 120):
    """(status, headers, body bytes) of one HTTP call."""
    request = urllib.request.Request(url + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def offer_body(url: str, head: bytes, body: bytes, piece_bytes: int = 65536) -> tuple[bytes, int]:
    """Send a request head, then its body in pieces, stopping as soon as the server answers or
    hangs up; returns (the server's whole answer, body bytes sent before it answered)."""
    host, port = url.removeprefix("http://").split(":")
    sent = 0
    with socket.create_connection((host, int(port)), timeout=60) as connection:
        connection.sendall(head)
        try:
            while sent < len(body) and not select.select([connection], [], [], 0)[0]:
                connection.sendall(body[sent:sent + piece_bytes])
                sent += piece_bytes
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed while we were still sending
        answer = b""
        while True:
            try:
                piece = connection.recv(65536)
            except ConnectionResetError:
                break
            if not piece:
                break
            answer += piece
    return answer, min(sent, len(body))


def call_json(url: str, method: str, path: str, payload: dict | None = None, headers: dict | None = None):
    body = json.dumps(payload).encode() if payload is not None else None
    status, _, data = call(url, method, path, body=body,
                           headers={"Content-Type": "application/json", **(headers or {})})
    return status, json.loads(data)


def multipart(image: bytes, filename: str, **fields: str) -> tuple[bytes, str]:
    """A multipart/form-data body with text fields and the file field 'image'; (body, content type)."""
    boundary = uuid.uuid4().hex
    parts = [f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n".encode()
             for name, value in fields.items()]
    parts.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{filename}\"\r\n"
                 f"Content-Type: application/octet-stream\r\n\r\n".encode() + image + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@contextlib.contextmanager
def serving_bytes(data: bytes, name: str = "mobile_sam.pt", content_length: int | None = None) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 that answers every GET with `data`; yields the file's URL.

    content_length: the length announced, when not len(data) (more: a truncated download).
    """

    class Serve(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(data) if content_length is None else content_length))
            self.end_headers()
            self.wfile.write(data)
            self.close_connection = True

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Serve)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/{name}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def two_instances(tmp_path_factory, env_for: Callable[[Path], dict[str, str]]) -> Iterator[list[Server]]:
    """Two function processes (as a platform that scaled out runs them), each with its own
    working directory and the environment env_for(workdir) gives."""
    with contextlib.ExitStack() as stack:
        pair = []
        for name in ("a", "b"):
            workdir = tmp_path_factory.mktemp(name)
            pair.append(stack.enter_context(running_function(env_for(workdir), workdir)))
        yield pair
