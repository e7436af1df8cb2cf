"""Checkpoint download: only a complete file with the right checksum ever lands at the destination."""
from __future__ import annotations

import hashlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from handler.models.weights import (
    PUBLISHED_CHECKPOINT,
    DownloadError,
    fetch_checkpoint,
    sha256_of,
    verify_checkpoint,
)

# Larger than one download chunk, so that streaming takes several reads.
BODY = bytes(range(256)) * 9000
BODY_SHA256 = hashlib.sha256(BODY).hexdigest()
WRONG_SHA256 = "0" * 64


class CheckpointServer(BaseHTTPRequestHandler):
    """/good: the body; /truncated: announces more bytes than it sends, then hangs up;
    /unannounced: the body without Content-Length; anything else: 404."""

    def do_GET(self) -> None:
        if self.path == "/good":
            self._send(BODY, len(BODY))
        elif self.path == "/truncated":
            self._send(BODY[:1000], len(BODY))
        elif self.path == "/unannounced":
            self._send(BODY, None)
        else:
            self.send_error(404, "Not Found")

    def _send(self, body: bytes, content_length: int | None) -> None:
        self.send_response(200)
        if content_length is not None:
            self.send_header("Content-Length", str(content_length))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def base_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), CheckpointServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def destination(tmp_path: Path) -> Path:
    return tmp_path / "weights" / "mobile_sam.pt"


def left_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_good_download_lands_at_destination(base_url, destination):
    result = fetch_checkpoint(f"{base_url}/good", destination, sha256=BODY_SHA256, size=len(BODY))
    assert result == destination
    assert destination.read_bytes() == BODY
    assert left_in(destination.parent) == ["mobile_sam.pt"]


def test_download_without_content_length_is_accepted_when_it_verifies(base_url, destination):
    fetch_checkpoint(f"{base_url}/unannounced", destination, sha256=BODY_SHA256)
    assert destination.read_bytes() == BODY


def test_progress_is_reported_up_to_the_full_size(base_url, destination):
    calls: list[tuple[int, int | None]] = []
    fetch_checkpoint(f"{base_url}/good", destination, sha256=BODY_SHA256, on_progress=lambda n, t: calls.append((n, t)))
    assert len(calls) >= 2
    assert [n for n, _ in calls] == sorted(n for n, _ in calls)
    assert calls[-1] == (len(BODY), len(BODY))


def test_truncated_download_is_rejected(base_url, destination):
    with pytest.raises(DownloadError, match=f"download truncated: got 1000 of {len(BODY)} bytes"):
        fetch_checkpoint(f"{base_url}/truncated", destination, sha256=BODY_SHA256)
    assert left_in(destination.parent) == []


def test_shorter_than_expected_size_is_rejected(base_url, destination):
    with pytest.raises(DownloadError, match=f"download truncated: got {len(BODY)} of {len(BODY) + 5} bytes"):
        fetch_checkpoint(f"{base_url}/unannounced", destination, sha256=BODY_SHA256, size=len(BODY) + 5)
    assert left_in(destination.parent) == []


def test_size_disagreeing_with_content_length_is_rejected(base_url, destination):
    with pytest.raises(DownloadError, match=f"server offers {len(BODY)} bytes, expected 10"):
        fetch_checkpoint(f"{base_url}/good", destination, sha256=BODY_SHA256, size=10)
    assert left_in(destination.parent) == []


def test_wrong_checksum_is_rejected(base_url, destination):
    with pytest.raises(DownloadError, match=f"checksum mismatch: expected 000000000000…, got {BODY_SHA256[:12]}…"):
        fetch_checkpoint(f"{base_url}/good", destination, sha256=WRONG_SHA256)
    assert left_in(destination.parent) == []


def test_http_error_status_is_reported(base_url, destination):
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch_checkpoint(f"{base_url}/missing", destination, sha256=BODY_SHA256)
    assert left_in(destination.parent) == []


def test_closed_port_is_reported_unreachable(destination):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DownloadError, match="server unreachable"):
        fetch_checkpoint(f"http://127.0.0.1:{port}/good", destination, sha256=BODY_SHA256)
    assert left_in(destination.parent) == []


def test_silent_server_times_out(destination):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/good"
        with pytest.raises(DownloadError, match="did not answer within 0.2 s"):
            fetch_checkpoint(url, destination, sha256=BODY_SHA256, timeout_s=0.2)
    assert left_in(destination.parent) == []


def test_server_stalling_mid_body_times_out(destination):
    release = threading.Event()

    def answer_then_stall(listener: socket.socket) -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(4096)
            connection.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 5000\r\n\r\n" + BODY[:100])
            release.wait()

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        server = threading.Thread(target=answer_then_stall, args=(listener,), daemon=True)
        server.start()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/good"
        try:
            with pytest.raises(DownloadError, match="download stalled for more than 0.2 s"):
                fetch_checkpoint(url, destination, sha256=BODY_SHA256, timeout_s=0.2)
        finally:
            release.set()
            server.join()
    assert left_in(destination.parent) == []


def test_malformed_url_is_rejected(destination):
    with pytest.raises(DownloadError, match="invalid download URL"):
        fetch_checkpoint("not a url", destination, sha256=BODY_SHA256)
    assert left_in(destination.parent) == []


def test_failed_download_keeps_the_existing_checkpoint(base_url, destination):
    destination.parent.mkdir(parents=True)
    destination.write_bytes(b"previous checkpoint")
    with pytest.raises(DownloadError):
        fetch_checkpoint(f"{base_url}/truncated", destination, sha256=BODY_SHA256)
    assert destination.read_bytes() == b"previous checkpoint"
    assert left_in(destination.parent) == ["mobile_sam.pt"]


def test_error_messages_name_no_paths(base_url, destination):
    with pytest.raises(DownloadError) as caught:
        fetch_checkpoint(f"{base_url}/good", destination, sha256=WRONG_SHA256)
    assert str(destination.parent) not in str(caught.value)
    assert "/" not in str(caught.value)


def test_sha256_of_hashes_the_file(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(BODY)
    assert sha256_of(path) == BODY_SHA256


def test_verify_accepts_the_right_file(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(BODY)
    verify_checkpoint(path, BODY_SHA256.upper(), size=len(BODY))


@pytest.mark.parametrize(
    ("sha256", "size", "message"),
    [
        (WRONG_SHA256, None, "checksum mismatch"),
        (BODY_SHA256, len(BODY) - 1, f"wrong size: expected {len(BODY) - 1} bytes, got {len(BODY)}"),
    ],
)
def test_verify_rejects_a_wrong_file(tmp_path, sha256, size, message):
    path = tmp_path / "blob"
    path.write_bytes(BODY)
    with pytest.raises(DownloadError, match=message):
        verify_checkpoint(path, sha256, size=size)


def test_verify_rejects_a_missing_file(tmp_path):
    with pytest.raises(DownloadError, match="checkpoint file is missing"):
        verify_checkpoint(tmp_path / "absent.pt", BODY_SHA256)


def test_published_checkpoint_is_the_pinned_mobilesam_release():
    assert PUBLISHED_CHECKPOINT.url.endswith("/weights/mobile_sam.pt")
    assert PUBLISHED_CHECKPOINT.sha256 == "6dbb90523a35330fedd7f1d3dfc66f995213d81b29a5ca8108dbcdd4e37d6c2f"
    assert PUBLISHED_CHECKPOINT.size == 40_728_226
