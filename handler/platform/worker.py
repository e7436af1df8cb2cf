"""The container's gunicorn worker: no request thread waits on a slow client's headers, and
health always has a thread of its own.

gunicorn's threaded worker hands a connection to a request thread as soon as its first bytes
arrive; the thread then blocks until the headers are complete. A client that sends half a
request line and stops (or dribbles a byte a second) holds that thread for as long as it
likes, and eight such clients stop the function, health included. This worker reads the
request line and headers in its event loop instead, non-blocking and within a deadline, and
hands the connection to a thread only once they are complete:

- heads over the size limits get a JSON 414/431 in the event loop; heads not complete within
  HEADER_TIMEOUT_S are closed with a JSON 408;
- `GET /health` (and the page's small static files) run on a reserve pool of threads that
  heavy requests never use, so the platform's health check answers whatever else is going on;
- bodies are read by the application, which bounds them in size and time
  (handler/edge/body.py); gunicorn's own refusals are JSON with the security headers;
- a connection closed after its answer lingers (to read what the client still sends, so the
  answer is not cut off by a reset) in the event loop too, never blocking it: gunicorn's own
  close waits up to 2 s per connection there, so 32 stalled uploads would stall everything.

It extends gunicorn's ThreadWorker (gunicorn is pinned, as this relies on its connection
object), configured through gunicorn's `worker_class` setting.
"""
from __future__ import annotations

import contextlib
import errno
import json
import selectors
import socket
import time
from collections import deque
from concurrent import futures
from functools import partial

from gunicorn.http import errors as http_errors
from gunicorn.workers.gthread import TConn, ThreadWorker

HEADER_TIMEOUT_S = 10.0
LINGER_S = 2.0
LINGER_MAX_BYTES = 64 * 1024
MAX_REQUEST_LINE_BYTES = 8190
MAX_HEAD_BYTES = 64 * 1024
RESERVE_THREADS = 2
_RECV_BYTES = 16 * 1024
_LIGHT_PATHS = ("/health", "/settings-schema", "/", "/app/")
_REFUSAL_STATUS = {
    http_errors.LimitRequestLine: (414, "URI Too Long", "request_line_too_long"),
    http_errors.LimitRequestHeaders: (431, "Request Header Fields Too Large", "headers_too_large"),
    http_errors.UnsupportedTransferCoding: (501, "Not Implemented", "unsupported_transfer_coding"),
}
_HEAD_END = b"\r\n\r\n"


class HeaderFirstWorker(ThreadWorker):
    """gunicorn's threaded worker, reading each request's head in its event loop."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reserve_pool: futures.ThreadPoolExecutor | None = None
        self.reading: deque[_Reading] = deque()
        self.lingering: deque[_Lingering] = deque()

    def init_process(self):
        self.reserve_pool = futures.ThreadPoolExecutor(max_workers=RESERVE_THREADS, thread_name_prefix="reserve")
        super().init_process()

    def accept(self, listener):
        try:
            client_sock, client_addr = listener.accept()
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = _Connection(self.cfg, client_sock, client_addr, listener.getsockname())
        conn.linger = self._linger
        self._read_head(conn)

    def on_client_socket_readable(self, conn, client):
        """A kept-alive connection is sending its next request: read its head here too."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._read_head(conn)

    def enqueue_req(self, conn):
        pool = self.reserve_pool if getattr(conn, "light", False) else self.tpool
        conn.light = False
        future = pool.submit(self.handle, conn)
        future.add_done_callback(lambda done: self.method_queue.defer(self.finish_request, conn, done))

    def murder_keepalived(self, force=False):
        # Called by the event loop on every turn: expire slow heads and lingering closes too.
        super().murder_keepalived(force)
        self._expire_heads(force)
        self._expire_lingering(force)

    def handle_error(self, req, client, addr, exc):
        """gunicorn's refusals (bad framing, oversized lines) as JSON, with the security headers."""
        status, reason, code = _REFUSAL_STATUS.get(type(exc), (400, "Bad Request", "bad_request"))
        if not isinstance(exc, http_errors.ParseException) or isinstance(exc, http_errors.ConfigurationProblem):
            self.log.exception("Error handling request")
            status, reason, code = 500, "Internal Server Error", "internal_error"
        else:
            self.log.warning("Invalid request from ip=%s: %s", (addr or ("",))[0], exc)
        _send_refusal(client, status, reason, code)

    def _read_head(self, conn: TConn) -> None:
        conn.sock.setblocking(False)
        reading = _Reading(conn, time.monotonic() + HEADER_TIMEOUT_S)
        self.reading.append(reading)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_head_bytes, reading))

    def _on_head_bytes(self, reading: "_Reading", client) -> None:
        try:
            data = reading.conn.sock.recv(_RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(reading)
            return
        reading.head += data
        refusal = reading.refusal()
        if refusal is not None:
            self._drop(reading, refusal)
        elif _HEAD_END in reading.head:
            self._dispatch(reading)

    def _dispatch(self, reading: "_Reading") -> None:
        self._stop_watching(reading)
        conn = reading.conn
        conn.init()  # the parser, once: blocking socket, as handle() expects
        conn.parser.unreader.unread(bytes(reading.head))
        conn.data_ready = True
        conn.light = reading.is_light()
        self.enqueue_req(conn)

    def _expire_heads(self, force: bool) -> None:
        now = time.monotonic()
        while self.reading and (force or self.reading[0].deadline <= now):
            self._drop(self.reading[0], None if force else (408, "Request Timeout", "request_timeout"))

    def _drop(self, reading: "_Reading", refusal: tuple[int, str, str] | None = None) -> None:
        self._stop_watching(reading)
        if refusal is not None:
            _send_refusal(reading.conn.sock, *refusal)
        self.nr_conns -= 1
        reading.conn.close()

    def _linger(self, conn: TConn) -> None:
        """Half-close after the answer, then read (and drop) what the client still sends until
        it closes too, LINGER_MAX_BYTES arrived or LINGER_S passed, without blocking the loop."""
        try:
            conn.sock.shutdown(socket.SHUT_WR)
            conn.sock.setblocking(False)
        except OSError:
            conn.sock.close()
            return
        lingering = _Lingering(conn, time.monotonic() + LINGER_S)
        self.lingering.append(lingering)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_linger_bytes, lingering))

    def _on_linger_bytes(self, lingering: "_Lingering", client) -> None:
        try:
            data = lingering.conn.sock.recv(_RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        lingering.drained += len(data)
        if not data or lingering.drained >= LINGER_MAX_BYTES:
            self._end_linger(lingering)

    def _expire_lingering(self, force: bool) -> None:
        now = time.monotonic()
        while self.lingering and (force or self.lingering[0].deadline <= now):
            self._end_linger(self.lingering[0])

    def _end_linger(self, lingering: "_Lingering") -> None:
        with contextlib.suppress(ValueError):
            self.lingering.remove(lingering)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(lingering.conn.sock)
        lingering.conn.sock.close()

    def _stop_watching(self, reading: "_Reading") -> None:
        try:
            self.reading.remove(reading)
        except ValueError:
            pass
        try:
            self.poller.unregister(reading.conn.sock)
        except (KeyError, ValueError, OSError):
            pass


class _Connection(TConn):
    """gunicorn's connection, whose graceful close is handed to the worker's event loop."""

    linger = None

    def close(self, graceful=False):
        if graceful and self.linger is not None:
            self.linger(self)
        else:
            super().close(graceful)


class _Lingering:
    def __init__(self, conn: TConn, deadline: float):
        self.conn = conn
        self.deadline = deadline
        self.drained = 0


class _Reading:
    """A connection whose request head is being read: the bytes so far and its deadline."""

    def __init__(self, conn: TConn, deadline: float):
        self.conn = conn
        self.deadline = deadline
        self.head = bytearray()

    def refusal(self) -> tuple[int, str, str] | None:
        line_end = self.head.find(b"\r\n")
        line_length = len(self.head) if line_end < 0 else line_end
        if line_length > MAX_REQUEST_LINE_BYTES:
            return 414, "URI Too Long", "request_line_too_long"
        end = self.head.find(_HEAD_END)
        if (end < 0 and len(self.head) > MAX_HEAD_BYTES) or end > MAX_HEAD_BYTES:
            return 431, "Request Header Fields Too Large", "headers_too_large"
        return None

    def is_light(self) -> bool:
        """GET/HEAD of health or a page file: served by the reserve threads."""
        parts = bytes(self.head[:self.head.find(b"\r\n")]).split(b" ")
        if len(parts) != 3 or parts[0] not in (b"GET", b"HEAD"):
            return False
        path = parts[1].split(b"?", 1)[0].decode("latin-1")
        return any(path == light or (light.endswith("/") and light != "/" and path.startswith(light))
                   for light in _LIGHT_PATHS)


_MESSAGES = {
    "request_line_too_long": "the request line is too long: send parameters in the body",
    "headers_too_large": "the request's headers are too large",
    "request_timeout": "the request's headers did not arrive in time",
    "unsupported_transfer_coding": "this transfer coding is not supported",
    "bad_request": "the request is malformed",
    "internal_error": "something went wrong on our side",
}


def _send_refusal(sock: socket.socket, status: int, reason: str, code: str) -> None:
    """A JSON error with the security headers every response carries, then the connection ends."""
    body = json.dumps({"error": {"code": code, "message": _MESSAGES[code]}}).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nX-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\n\r\n")
    try:
        sock.setblocking(False)
        sock.send(head.encode("latin-1") + body)
    except OSError:
        pass
