"""Download and verify model weights.

A download streams into a private temporary file beside the destination and only becomes
the destination (by an atomic rename) once its length and digest (SHA-256, or MD5 where
that is all a publisher gives) are right, so a reader never sees a half-written or corrupt
checkpoint at the destination path. The SHA-256 of every download is logged, so that an
MD5-verified file can be pinned by SHA-256 from then on.
"""
from __future__ import annotations

import hashlib
import http.client
import logging
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable

from .lifecycle import ModelLoadError

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
# Hex digits of a digest shown in error messages: enough to tell two digests apart.
DIGEST_PREFIX = 12

ProgressCallback = Callable[[int, "int | None"], None]


@dataclass(frozen=True)
class CheckpointSource:
    """Where a checkpoint is published: url, SHA-256 (lowercase hex) and size in bytes, or
    the MD5 (lowercase hex) its publisher gives instead of a SHA-256."""

    url: str
    sha256: str | None = None
    size: int | None = None
    md5: str | None = None


# The public MobileSAM vit_t checkpoint (Apache-2.0), pinned to a commit of its repository.
PUBLISHED_CHECKPOINT = CheckpointSource(
    url="https://github.com/ChaoningZhang/MobileSAM/raw/f706ad9c4eb7f219c00d9050e46328518ffb65d2/weights/mobile_sam.pt",
    sha256="6dbb90523a35330fedd7f1d3dfc66f995213d81b29a5ca8108dbcdd4e37d6c2f",
    size=40_728_226,
)


# IOPaint's TorchScript trace of the MI-GAN 512 Places2 generator (MIT); its publisher gives an
# MD5. local_invoke.py fetch-model converts it to the plain state dict the service loads.
PUBLISHED_INPAINT_TRACE = CheckpointSource(
    url="https://github.com/Sanster/models/releases/download/migan/migan_traced.pt",
    md5="76eb3b1a71c400ee3290524f7a11b89c",
)


class DownloadError(ModelLoadError):
    """A checkpoint could not be fetched or failed verification. The message says what went
    wrong in words fit for a user and never names a filesystem path."""


def fetch_checkpoint(
    url: str,
    destination: Path,
    *,
    sha256: str | None = None,
    md5: str | None = None,
    size: int | None = None,
    timeout_s: float = 30,
    on_progress: ProgressCallback | None = None,
) -> Path:
    """Download `url` to `destination` if its digest and byte count check out.

    sha256, md5: the expected digests (hex, any case); at least one is required, and every
    one given must match. The SHA-256 of what was received is logged either way.
    size: expected length in bytes, if known; a Content-Length header is checked too.
    timeout_s: seconds allowed for connecting and for each read.
    on_progress(received_bytes, total_bytes or None) is called after every chunk.
    Creates the destination's directory. Returns `destination`. On any failure raises
    DownloadError and leaves no new file behind (an existing destination is untouched).
    """
    if not (sha256 or md5):
        raise ValueError("a checkpoint download needs its SHA-256 or MD5")
    destination = Path(destination)
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        # mkstemp: a unique name, created with mode 0600.
        handle, temp_name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".part", dir=destination.parent)
    except OSError as error:
        raise DownloadError(f"cannot write the checkpoint: {error.strerror}") from None
    temp_path = Path(temp_name)
    try:
        with os.fdopen(handle, "wb") as out:
            digests = _download(url, out, size, timeout_s, on_progress)
            out.flush()
            os.fsync(out.fileno())
        log.info("checkpoint downloaded", extra={"fields": {
            "bytes": temp_path.stat().st_size, "sha256": digests["sha256"], "md5": digests["md5"]}})
        if sha256:
            _check_digest(sha256, digests["sha256"])
        if md5:
            _check_digest(md5, digests["md5"], "MD5")
        os.replace(temp_path, destination)
    except BaseException as error:
        temp_path.unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise DownloadError(f"cannot write the checkpoint: {error.strerror}") from None
        raise
    _fsync_directory(destination.parent)
    return destination


def sha256_of(path: Path) -> str:
    """Lowercase hex SHA-256 of the file at `path`, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while chunk := source.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def md5_of(path: Path) -> str:
    """Lowercase hex MD5 of the file at `path`, read in chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as source:
        while chunk := source.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def verify_checkpoint(path: Path, sha256: str | None, size: int | None = None, *, md5: str | None = None) -> None:
    """Raise DownloadError unless the file at `path` exists, has `size` bytes (if given) and
    the SHA-256 `sha256` and MD5 `md5` (hex, any case; those given, at least one)."""
    if not (sha256 or md5):
        raise ValueError("verifying a checkpoint needs its SHA-256 or MD5")
    try:
        actual_size = Path(path).stat().st_size
        if size is not None and actual_size != size:
            raise DownloadError(f"checkpoint has the wrong size: expected {size} bytes, got {actual_size}")
        if sha256:
            _check_digest(sha256, sha256_of(path))
        if md5:
            _check_digest(md5, md5_of(path), "MD5")
    except FileNotFoundError:
        raise DownloadError("checkpoint file is missing") from None
    except OSError as error:
        raise DownloadError(f"cannot read the checkpoint: {error.strerror}") from None


def _download(
    url: str, out: BinaryIO, size: int | None, timeout_s: float, on_progress: ProgressCallback | None
) -> dict[str, str]:
    """Stream `url` into `out`; return the hex SHA-256 and MD5 of what was received."""
    with _open(url, timeout_s) as response:
        expected = _expected_length(response.headers.get("Content-Length"), size)
        try:
            return _stream_body(response, out, expected, on_progress)
        except TimeoutError:
            raise DownloadError(f"download stalled for more than {timeout_s:g} s") from None
        except (http.client.HTTPException, ConnectionError) as error:
            raise DownloadError(f"connection lost during download ({_describe(error)})") from None


def _open(url: str, timeout_s: float) -> http.client.HTTPResponse:
    """The server's successful response to GET `url` (redirects followed)."""
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "drishya-checkpoint-fetch"})
        return urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as error:
        raise DownloadError(f"server answered HTTP {error.code} {error.reason}") from None
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError):
            raise DownloadError(f"server did not answer within {timeout_s:g} s") from None
        raise DownloadError(f"server unreachable ({_describe(error.reason)})") from None
    except TimeoutError:
        raise DownloadError(f"server did not answer within {timeout_s:g} s") from None
    except ValueError:
        raise DownloadError("invalid download URL") from None
    except (http.client.HTTPException, ConnectionError) as error:
        raise DownloadError(f"server hung up before answering ({_describe(error)})") from None


def _expected_length(content_length: str | None, size: int | None) -> int | None:
    """The byte count to expect: `size` when given, checked against Content-Length if sent."""
    announced = int(content_length) if content_length and content_length.strip().isdigit() else None
    if size is not None and announced is not None and announced != size:
        raise DownloadError(f"server offers {announced} bytes, expected {size}")
    return size if size is not None else announced


def _stream_body(
    response: http.client.HTTPResponse, out: BinaryIO, expected: int | None, on_progress: ProgressCallback | None
) -> dict[str, str]:
    digests = {"sha256": hashlib.sha256(), "md5": hashlib.md5(usedforsecurity=False)}
    received = 0
    while chunk := response.read(CHUNK_BYTES):
        received += len(chunk)
        if expected is not None and received > expected:
            raise DownloadError(f"download too large: more than {expected} bytes")
        for digest in digests.values():
            digest.update(chunk)
        out.write(chunk)
        if on_progress is not None:
            on_progress(received, expected)
    if expected is not None and received != expected:
        raise DownloadError(f"download truncated: got {received} of {expected} bytes")
    return {name: digest.hexdigest() for name, digest in digests.items()}


def _check_digest(expected: str, actual: str, kind: str = "SHA-256") -> None:
    if actual.lower() != expected.strip().lower():
        label = "checksum" if kind == "SHA-256" else f"{kind} checksum"
        raise DownloadError(
            f"{label} mismatch: expected {expected.strip().lower()[:DIGEST_PREFIX]}…, got {actual[:DIGEST_PREFIX]}…"
        )


def _describe(reason: object) -> str:
    """A short reason without paths: an OS error's strerror, else its text."""
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable; a no-op where directories cannot be opened (e.g. Windows)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
