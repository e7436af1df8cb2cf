"""A round-robin HTTP proxy on 127.0.0.1: several instances of the function behind one URL, each
request to the next instance, as Cloud Run's or Railway's front end spreads them. Used by the
two-instance tests and benches (standard library only).

    with RoundRobin(["http://127.0.0.1:8081", "http://127.0.0.1:8082"]) as proxy:
        ... proxy.url ...; proxy.counts  # requests per instance

sticky=True: session affinity as Cloud Run's --session-affinity does it, by a cookie: a client
that sends back the cookie of its first answer stays on that instance.
"""
from __future__ import annotations

import http.client
import http.cookies
import http.server
import itertools
import threading
import urllib.parse

AFFINITY_COOKIE = "drishya-instance"
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
               "transfer-encoding", "upgrade", "content-length"}


class RoundRobin:
    def __init__(self, backends: list[str], timeout_s: float = 300, sticky: bool = False):
        self.backends = [urllib.parse.urlsplit(url) for url in backends]
        self.sticky = sticky
        self.counts = [0] * len(backends)
        self._next = itertools.cycle(range(len(backends)))
        self._lock = threading.Lock()
        self._timeout_s = timeout_s
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> RoundRobin:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _pick(self, cookie: str | None) -> tuple[int, bool]:
        """The instance for a request, and whether to give the client an affinity cookie."""
        pinned = None
        if self.sticky and cookie:
            jar = http.cookies.SimpleCookie(cookie)
            value = jar[AFFINITY_COOKIE].value if AFFINITY_COOKIE in jar else ""
            pinned = int(value) if value.isdigit() and int(value) < len(self.backends) else None
        with self._lock:
            index = next(self._next) if pinned is None else pinned
            self.counts[index] += 1
        return index, self.sticky and pinned is None

    def _handler_class(self):
        balancer = self

        class Forward(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                index, give_cookie = balancer._pick(self.headers.get("Cookie"))
                backend = balancer.backends[index]
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                headers["X-Forwarded-For"] = self.client_address[0]
                connection = http.client.HTTPConnection(backend.hostname, backend.port, timeout=balancer._timeout_s)
                try:
                    connection.request(self.command, self.path, body=body, headers=headers)
                    response = connection.getresponse()
                    data = response.read()
                except OSError:
                    self.send_error(502, "the instance did not answer")
                    return
                finally:
                    connection.close()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in _HOP_BY_HOP:
                        self.send_header(key, value)
                if give_cookie:
                    self.send_header("Set-Cookie", f"{AFFINITY_COOKIE}={index}; Path=/; HttpOnly")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_OPTIONS = _forward

            def log_message(self, *args):
                pass

        return Forward
