"""No request sequence takes the function down: each attack of the adversarial review, over real
HTTP against the container's server (gunicorn, MobileSAM loaded) in a 512 MB memory cgroup
where one can be made.

Throughout, a prober asks /health every 0.1 s: every answer must come within 1 s. After the
attacks a real replace must succeed, and the kernel must have OOM-killed nothing.
"""
from __future__ import annotations

import json
import socket
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.decode_cases import CASES, make_case
from bench.memcg import MIB, MemoryCgroup, unavailable_reason

from support.checkpoints import write_random_checkpoint
from support.function import AUTH, PASSWORD
from support.images import PRODUCT_BOX, png_bytes, synthetic_product, synthetic_scene
from support.servers import call, call_json, function_env, multipart, offer_body, running_function

pytestmark = pytest.mark.slow

CGROUP_UNAVAILABLE = unavailable_reason()
MAX_PIXELS = 24_000_000
HEALTH_DEADLINE_S = 1.0


@dataclass
class HealthProber:
    """Asks /health every 0.1 s on a fresh connection; records each answer's latency."""

    url: str
    during: str = "start-up"
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> "HealthProber":
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            started = time.monotonic()
            try:
                status, _, _ = call(self.url, "GET", "/health", timeout=5)
                if status != 200:
                    self.failures.append(f"HTTP {status}")
            except OSError as error:
                self.failures.append(f"{error!r} during {self.during}")
            self.latencies.append(time.monotonic() - started)


@dataclass
class Function:
    url: str
    group: MemoryCgroup | None
    prober: HealthProber


@pytest.fixture(autouse=True)
def _tell_the_prober_which_attack_runs(request):
    if "function" in request.fixturenames:
        request.getfixturevalue("function").prober.during = request.node.name


@pytest.fixture(scope="module")
def function(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("exhaustion")
    checkpoint = write_random_checkpoint(workdir / "mobile_sam.pt")
    env = function_env(workdir, SEGMENTER="mobilesam", MODEL_PATH=str(checkpoint), MODEL_PRELOAD="1",
                       MAX_PIXELS=str(MAX_PIXELS), MAX_REQUESTS="0", THREADS="8")
    with ExitStack() as stack:
        group = None if CGROUP_UNAVAILABLE else stack.enter_context(MemoryCgroup(512 * MIB, "drishya-exhaustion"))
        server = stack.enter_context(running_function(env, workdir, gunicorn=True,
                                                      preexec_fn=group.join if group else None))
        _wait_for_model(server.url)
        with HealthProber(server.url) as prober:
            yield Function(server.url, group, prober)
        assert not prober.failures, prober.failures[:5]
        assert max(prober.latencies) < HEALTH_DEADLINE_S, f"slowest health answer {max(prober.latencies):.2f} s"
        if group is not None:
            assert group.stats().oom_kills == 0


def _wait_for_model(url: str) -> None:
    for _ in range(600):
        if call_json(url, "GET", "/health")[1]["model"]["state"] == "ready":
            return
        time.sleep(0.1)
    raise RuntimeError("the model did not load")


def _host_port(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


def _answer(connection: socket.socket) -> bytes:
    data = b""
    while chunk := connection.recv(65536):
        data += chunk
    return data


def _replace_succeeds(url: str) -> None:
    ids = {}
    for kind, pixels in (("scene", synthetic_scene()), ("product", synthetic_product())):
        body, content_type = multipart(png_bytes(pixels), "image.png", kind=kind)
        status, _, answer = call(url, "POST", "/upload", body=body, headers={**AUTH, "Content-Type": content_type})
        assert status == 200, answer
        ids[kind] = json.loads(answer)["image_id"]
    status, answer = call_json(url, "POST", "/process", {"image_id": ids["scene"], "box": PRODUCT_BOX,
                                                         "product_id": ids["product"]}, AUTH)
    assert status == 200, answer
    assert answer["segmenter"] == "mobilesam"


def test_big_json_bodies_without_the_password_are_refused_unread(function):
    body = b'{"action": "upload", "a": [' + b"{}," * 5_000_000 + b"{}]}"
    head = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body))
    results = []
    threads = [threading.Thread(target=lambda: results.append(offer_body(function.url, head, body)))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert [answer.split(b" ")[1] for answer, _ in results] == [b"401"] * 4
    assert all(sent < len(body) / 2 for _, sent in results), "the server read the bodies it refused"
    _replace_succeeds(function.url)


@pytest.mark.parametrize("stalled", ["head", "body"])
def test_thirty_two_stalled_clients_do_not_starve_health_or_a_replace(function, stalled):
    host, port = _host_port(function.url)
    opening = b"GET /health HTTP/1.1\r\nHost: x\r\n" if stalled == "head" else (
        b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
    with ExitStack() as stack:
        for _ in range(32):
            connection = stack.enter_context(socket.create_connection((host, port), timeout=30))
            connection.sendall(opening)
        started = time.monotonic()
        status, _, _ = call(function.url, "GET", "/health", timeout=5)
        assert status == 200 and time.monotonic() - started < HEALTH_DEADLINE_S
        _replace_succeeds(function.url)


def test_a_huge_request_line_is_refused_at_once_as_json(function):
    host, port = _host_port(function.url)
    with socket.create_connection((host, port), timeout=30) as connection:
        started = time.monotonic()
        try:
            connection.sendall(b"GET /health?" + b"a" * 20_000_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before it was all sent
        answer = _answer(connection)
    assert answer.startswith(b"HTTP/1.1 414")
    assert b'"request_line_too_long"' in answer and b"nosniff" in answer
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("head", [b"GET * HTTP/1.1\r\nHost: x\r\n\r\n",
                                  b"POST /process HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
                                  b"GET /health HTTP/1.1\r\n" + b"X-Long: " + b"a" * 70_000 + b"\r\n\r\n"],
                         ids=["star-path", "bad-content-length", "huge-header"])
def test_the_servers_own_refusals_are_json_with_the_security_headers(function, head):
    host, port = _host_port(function.url)
    with socket.create_connection((host, port), timeout=30) as connection:
        connection.sendall(head)
        answer = _answer(connection)
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split(b" ")[1].startswith(b"4"), answer[:200]
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert b"application/json" in headers and b"nosniff" in headers and b"no-store" in headers
    assert json.loads(body)["error"]["code"]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_every_image_mode_under_max_pixels_decodes_within_budget(function, case):
    data = make_case(case, MAX_PIXELS - 1)
    body, content_type = multipart(data, "image", kind=case.kind)
    if function.group is not None:
        function.group.reset_peak()
    status, _, answer = call(function.url, "POST", "/upload", body=body,
                             headers={**AUTH, "Content-Type": content_type})
    expected = {413} if "refused" in case.name else {200}
    assert status in expected, answer[:300]
    if status == 413:
        assert json.loads(answer)["error"]["code"] == "image_too_large"


def test_a_good_replace_succeeds_after_everything(function):
    _replace_succeeds(function.url)


@pytest.fixture(scope="module")
def recycling_function(tmp_path_factory):
    """The container's server recycling its worker every 12 requests."""
    workdir = tmp_path_factory.mktemp("recycling")
    env = function_env(workdir, MAX_REQUESTS="12", MAX_REQUESTS_JITTER="0", AUTH_MAX_FAILURES="10")
    with running_function(env, workdir, gunicorn=True) as server:
        yield server.url


def test_the_throttle_holds_across_worker_recycling(recycling_function):
    statuses = []
    for _ in range(40):
        status, _, _ = call(recycling_function, "POST", "/process", body=b"{}",
                            headers={"X-App-Password": "guess", "Content-Type": "application/json"})
        statuses.append(status)
    assert statuses.count(401) == 10 and statuses.count(429) == 30, statuses
    status, _, _ = call(recycling_function, "POST", "/process", body=b"{}",
                        headers={"X-App-Password": PASSWORD, "Content-Type": "application/json"})
    assert status == 400, "the right password is let in, throttled or not"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(head=st.one_of(
    st.binary(max_size=3000),
    st.builds(lambda line, garbage: b"GET /health?" + line + b" HTTP/1.1\r\n" + garbage,
              st.binary(min_size=8000, max_size=12000), st.binary(max_size=200)),
    st.builds(lambda name, value: b"GET /health HTTP/1.1\r\n" + name + b": " + value + b"\r\n\r\n",
              st.binary(max_size=40), st.binary(max_size=9000))))
def test_garbled_long_or_cut_off_heads_never_stop_the_server(function, head):
    host, port = _host_port(function.url)
    with socket.create_connection((host, port), timeout=30) as connection:
        try:
            connection.sendall(head)
            connection.shutdown(socket.SHUT_WR)
            _answer(connection)
        except (BrokenPipeError, ConnectionResetError):
            pass
    assert call(function.url, "GET", "/health", timeout=5)[0] == 200
